"""select: the CV-score rule that picks the champion, and the stage on the tiny corpus with a real MLflow sqlite
store per test."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import mlflow
import pytest

from pipeline.errors import PipelineError
from pipeline.stages.select import SelectParams, choose, select
from tests.conftest import TINY_TRAIN
from tests.support.processes import free_port


def test_choose_uses_cv_scores_and_breaks_ties_by_params_order() -> None:
    cv = {"a": {"accuracy": 0.8}, "b": {"accuracy": 0.9}, "c": {"accuracy": 0.9}}
    assert choose(cv, "accuracy", 0.5) == "b"
    with pytest.raises(PipelineError, match="no candidate reaches select.min_value 0.95"):
        choose(cv, "accuracy", 0.95)
    with pytest.raises(PipelineError, match="'test_accuracy' is not a CV score"):
        choose(cv, "test_accuracy", 0.5)


def test_select_never_reads_the_corpus_cv() -> None:
    cv = {
        "first": {"accuracy": 0.80, "f1_macro": 0.8, "roc_auc": 0.9, "corpus_cv": {"accuracy": 0.99}},
        "second": {"accuracy": 0.85, "f1_macro": 0.8, "roc_auc": 0.9, "corpus_cv": {"accuracy": 0.70}},
    }
    assert choose(cv, "accuracy", 0.5) == "second"
    with pytest.raises(PipelineError, match="not a CV score"):
        choose(cv, "corpus_cv", 0.5)


def test_select_registers_the_champion_and_logs_every_candidate(evaluated: Path, prepared: Path) -> None:
    params = SelectParams(metric="accuracy", min_value=0.5, experiment="tiny", registered_model="tiny-sentiment")
    out = evaluated / "models" / "champion"
    selected = select(
        params, TINY_TRAIN.specs(), evaluated / "models", evaluated / "metrics", evaluated / "plots", prepared, out,
        evaluated / "selected.json", run_params={"prepare_seed": 0},
    )  # fmt: skip
    assert json.loads((evaluated / "selected.json").read_text()) == selected
    assert (out / "model.json").exists() and selected["champion"] in TINY_TRAIN.candidates

    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name("tiny")
    runs = client.search_runs([experiment.experiment_id])
    parent = next(r for r in runs if r.info.run_id == selected["mlflow"]["parent_run_id"])
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert sorted(r.info.run_name for r in children) == sorted(TINY_TRAIN.candidates)
    for child in children:
        assert {"cv_accuracy", "test_accuracy", "test_roc_auc", "test_positive_f1"} <= set(child.data.metrics)
        assert child.data.params["kind"] == TINY_TRAIN.candidates[child.info.run_name].kind
        assert {i.dataset.name for i in child.inputs.dataset_inputs} == {"corpus:train", "corpus:test"}
        assert "plots/confusion.png" in {a.path for a in client.list_artifacts(child.info.run_id, "plots")}
    assert parent.data.params["prepare_seed"] == "0"

    version = client.get_model_version_by_alias("tiny-sentiment", "champion")
    assert version.run_id == selected["mlflow"]["run_id"]
    pyfunc = mlflow.pyfunc.load_model("models:/tiny-sentiment@champion")
    predictions = pyfunc.predict(["A superb, moving, wonderful film!", "Dull, boring, an awful mess."])
    assert [p.label for p in predictions] == ["positive", "negative"]
    assert predictions[0].positive > 0.5 > predictions[1].positive


def test_select_names_missing_candidate_outputs(evaluated: Path, prepared: Path) -> None:
    (evaluated / "metrics" / "seed_nb" / "cv.json").unlink()
    with pytest.raises(PipelineError, match="CV scores of seed_nb is missing"):
        select(
            SelectParams(), TINY_TRAIN.specs(), evaluated / "models", evaluated / "metrics", evaluated / "plots",
            prepared, evaluated / "champion", evaluated / "selected.json",
        )  # fmt: skip
    assert not (evaluated / "champion").exists() and not (evaluated / "selected.json").exists()


def test_a_closed_tracking_port_fails_in_seconds_and_keeps_the_last_outputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # MLflow's own retries take about four minutes to give up on a closed port; the check before any work does not.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://alice:s3cret@127.0.0.1:{free_port()}")
    champion, selected_file = tmp_path / "champion", tmp_path / "selected.json"
    (champion / "model.json").parent.mkdir()
    (champion / "model.json").write_text("{}")
    selected_file.write_text('{"champion": "last"}')
    started = time.monotonic()
    with pytest.raises(PipelineError) as raised:
        select(
            SelectParams(), TINY_TRAIN.specs(), tmp_path / "models", tmp_path / "metrics", tmp_path / "plots",
            tmp_path / "prepared", champion, selected_file,
        )  # fmt: skip
    assert time.monotonic() - started < 5
    message = str(raised.value)
    assert "tracking store at http://alice:***@127.0.0.1:" in message and "Connection refused; 2 tries" in message
    assert "s3cret" not in message and "\n" not in message
    assert selected_file.read_text() == '{"champion": "last"}' and (champion / "model.json").read_text() == "{}"
    assert "MLFLOW_HTTP_REQUEST_MAX_RETRIES" not in os.environ  # the check's settings were its own


def test_a_killed_runs_fragments_are_removed_by_the_next_run(evaluated: Path, prepared: Path) -> None:
    # What `kill -9` during the write leaves (pipeline/files.py staged()): git and DVC ignore `.*.partial`.
    out, selected_file = evaluated / "champion", evaluated / "selected.json"
    (evaluated / ".champion.partial").mkdir()
    (evaluated / ".champion.partial" / "weights.npz").write_bytes(b"\x00" * 10)
    (evaluated / ".selected.json.partial").write_text('{"champion": "half')
    params = SelectParams(min_value=0.5, experiment="tiny", registered_model="tiny-sentiment")
    selected = select(
        params, TINY_TRAIN.specs(), evaluated / "models", evaluated / "metrics", evaluated / "plots", prepared, out,
        selected_file,
    )  # fmt: skip
    assert not list(evaluated.glob(".*.partial"))
    assert json.loads(selected_file.read_text()) == selected
    assert sorted(path.name for path in out.iterdir()) == sorted(
        path.name for path in (evaluated / "models" / selected["champion"]).iterdir()
    )
