"""`sentiment drift` on the trained champion: the reference stage's bins against prediction logs the serving code
writes (pipeline/serving/observe.py at rate 1), drawn from the test split, and with a planted shift.

Skipped where no `dvc repro` has made a champion (CI runs it before pytest), as the behaviour tests are.
"""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.corpus.splits import read_split
from pipeline.drift import DriftParams
from pipeline.files import read_json
from pipeline.model import load
from pipeline.serving.observe import LOGGER, Observer
from pipeline.serving.rules import predictions
from pipeline.stages.reference import record_reference
from tests.support.processes import REPO

pytestmark = pytest.mark.integration

CHAMPION = REPO / "models" / "champion"
PREPARED = REPO / "data" / "prepared"


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (CHAMPION / "model.json").exists():
        pytest.skip(f"no trained champion at {CHAMPION.relative_to(REPO)}: run `uv run dvc repro` first")
    path = tmp_path_factory.mktemp("reference") / "reference.json"
    record_reference(DriftParams(), CHAMPION, PREPARED, path)
    return path


def served_log(texts: list[str], path: Path) -> Path:
    """The lines the service writes for these reviews: the real Observer at rate 1, its logger sent to `path`."""
    model = load(CHAMPION)
    observer = Observer(model, "champion", 1.0)
    sink = logging.getLogger(LOGGER)
    handler = logging.FileHandler(path)
    sink.addHandler(handler)
    try:
        for start in range(0, len(texts), 50):
            chunk = texts[start : start + 50]
            observer.observe(chunk, predictions(model, chunk, "champion"), explained=False)
    finally:
        sink.removeHandler(handler)
        handler.close()
    return path


def drift(log: Path, reference: Path, out: Path, *extra: str) -> int:
    return main(
        [
            "--params",
            str(REPO / "params.yaml"),
            "drift",
            str(log),
            "--reference",
            str(reference),
            "--out",
            str(out),
            *extra,
        ]
    )


def test_the_reference_is_the_champion_on_the_test_split(recorded: Path) -> None:
    reference = read_json(recorded)
    assert reference["predictions"] == 400 and set(reference["features"]) == {"label", "score", "characters",
                                                                             "oov_share"}  # fmt: skip
    for name in ("score", "characters", "oov_share"):
        assert len(reference["features"][name]["edges"]) == 9
        assert sum(reference["features"][name]["shares"]) == pytest.approx(1)
    assert 0.4 < reference["features"]["label"]["shares"][1] < 0.6  # movie_reviews is balanced
    assert 0 < reference["features"]["oov_share"]["mean"] < 0.1


def test_a_log_drawn_from_the_test_split_is_not_drift(recorded: Path, tmp_path: Path) -> None:
    _, texts, _ = read_split(PREPARED / "test.jsonl")
    sample = random.Random(1).choices(texts, k=800)  # what traffic like the test split would send
    log = served_log(sample, tmp_path / "served.log")
    assert drift(log, recorded, tmp_path / "report") == 0
    report = read_json(tmp_path / "report" / "report.json")
    assert report["predictions"] == 800 and report["drifted"] == []
    assert all(figure["psi"] < 0.1 for figure in report["features"].values()), report["features"]
    assert (tmp_path / "report" / "drift.png").read_bytes().startswith(b"\x89PNG")


def test_a_planted_shift_exits_2_and_names_the_feature(
    recorded: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _, texts, _ = read_split(PREPARED / "test.jsonl")
    log = served_log(random.Random(2).choices(texts, k=800), tmp_path / "served.log")
    # Reviews three times as long, all else as served: only `characters` moved. In CloudWatch's export form, with
    # a line of other output between, as a log group holds both.
    planted = tmp_path / "planted.log"
    lines = []
    for line in log.read_text().splitlines():
        record = json.loads(line)
        record["characters"] *= 3
        lines.append(json.dumps({"timestamp": 1, "message": json.dumps(record)}))
    planted.write_text("\n".join(["INFO bentoml: serving", *lines]) + "\n")
    caplog.set_level(logging.INFO, logger="pipeline")
    assert drift(planted, recorded, tmp_path / "report") == 2
    report = read_json(tmp_path / "report" / "report.json")
    assert report["drifted"] == ["characters"] and report["predictions"] == 800
    (error,) = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert error.startswith("sentiment drift: drift in characters (PSI ")


def test_served_text_unlike_the_corpus_drifts(recorded: Path, tmp_path: Path) -> None:
    """Real reviews cut to their first sentence: shorter, and scored less confidently."""
    _, texts, _ = read_split(PREPARED / "test.jsonl")
    short = [text.split(" . ")[0] + " ." for text in random.Random(3).choices(texts, k=400)]
    assert drift(served_log(short, tmp_path / "short.log"), recorded, tmp_path / "report") == 2
    drifted = read_json(tmp_path / "report" / "report.json")["drifted"]
    assert {"characters", "score"} <= set(drifted)


def test_too_few_predictions_or_no_reference_is_one_line_and_exit_1(
    recorded: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _, texts, _ = read_split(PREPARED / "test.jsonl")
    log = served_log(texts[:20], tmp_path / "served.log")
    assert drift(log, recorded, tmp_path / "report") == 1
    assert drift(log, tmp_path / "none.json", tmp_path / "report") == 1
    assert drift(tmp_path / "missing", recorded, tmp_path / "report") == 1
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors[0].startswith("sentiment drift: ") and "holds 20 prediction records" in errors[0]
    assert "`dvc repro reference` records it" in errors[1]
    assert "neither a file nor a folder" in errors[2]
    assert not (tmp_path / "report").exists()
