"""What a stage killed mid-write leaves beside its outputs (`.NAME.partial`, pipeline/files.py staged()) is gone
after the stage's next run, and the outputs are whole. select's own case is in test_select.py."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.behaviour import CASES_FILE
from pipeline.files import partial_path
from pipeline.model import load
from pipeline.stages.evaluate import evaluate
from pipeline.stages.train import train
from tests.conftest import TINY_TRAIN


def leave_fragments(*outputs: Path) -> list[Path]:
    """Half-written copies of `outputs`, as `kill -9` of the stage left them."""
    fragments = [partial_path(out) for out in outputs]
    for fragment in fragments:
        fragment.parent.mkdir(parents=True, exist_ok=True)
        if fragment.name.endswith(".json.partial"):
            fragment.write_text('{"accuracy": 0.')
        else:
            fragment.mkdir()
            (fragment / "weights.npz").write_bytes(b"\x00" * 64)
    return fragments


def test_train_and_evaluate_remove_a_killed_runs_fragments(prepared: Path, tmp_path: Path) -> None:
    model_out, cv_out = tmp_path / "models" / "candidates" / "seed_nb", tmp_path / "metrics" / "seed_nb" / "cv.json"
    fragments = leave_fragments(model_out, cv_out)
    train(TINY_TRAIN, "seed_nb", prepared, model_out, cv_out)
    assert not any(fragment.exists() for fragment in fragments)
    assert json.loads(cv_out.read_text())["folds"] == 2

    test_out, plots_out = tmp_path / "metrics" / "seed_nb" / "test.json", tmp_path / "plots" / "seed_nb"
    behaviour_out = tmp_path / "metrics" / "seed_nb" / "behaviour.json"
    fragments = leave_fragments(test_out, behaviour_out, plots_out)
    evaluate(model_out, prepared, CASES_FILE, test_out, behaviour_out, plots_out)
    assert not any(fragment.exists() for fragment in fragments)
    assert json.loads(test_out.read_text())["documents"] == 4 and (plots_out / "confusion.png").exists()
    assert json.loads(behaviour_out.read_text())["negation"]["cases"] > 0
    [scores] = load(model_out).predict_proba(["superb , moving and wonderful ."])
    assert scores["positive"] > scores["negative"]
