"""The CLI turns a user's mistake into one line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.processes import REPO, free_port

pytestmark = pytest.mark.integration

SENTIMENT = Path(sys.executable).with_name("sentiment")


def run(*argv: str) -> tuple[int, list[str]]:
    """Run the installed console script; return its exit code and its stderr lines."""
    done = subprocess.run([SENTIMENT, *argv], capture_output=True, text=True, timeout=120)
    return done.returncode, done.stderr.strip().splitlines()


def test_bad_params_key_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text("prepare:\n  test_fraction: 0.2\n  sed: 1\n")
    code, lines = run("--params", str(tmp_path / "params.yaml"), "prepare", "raw", "out", "data.json", "lengths.png")
    assert code == 1 and len(lines) == 1
    assert (
        "prepare.sed: got an unknown key; needs one of the known keys: test_fraction, seed, min_documents_per_label"
        in lines[0]
    )


def test_missing_section_and_file(tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text("fetch: {source: nltk:movie_reviews}\n")
    assert run("--params", str(tmp_path / "params.yaml"), "prepare", "raw", "out", "data.json", "lengths.png")[1][
        0
    ].endswith("has no 'prepare' section")
    code, lines = run("--params", str(tmp_path / "nope.yaml"), "fetch", "sources", "out")
    assert code == 1 and "nope.yaml not found" in lines[0]


def test_unknown_candidate_from_the_command_line(tmp_path: Path, nltk_home: Path) -> None:  # noqa: ARG001
    (tmp_path / "params.yaml").write_text(
        "train:\n  cv_folds: 2\n  cv_seed: 1\n  candidates:\n    nb: {kind: nltk_naive_bayes}\n"
    )
    code, lines = run("--params", str(tmp_path / "params.yaml"), "train", "svm", "p", "m", "cv.json")
    assert code == 1 and len(lines) == 1 and "no candidate 'svm' in train.candidates; known: nb" in lines[0]


def test_corrupt_csv_end_to_end(tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_text("review,label\nok,pos\n")
    (tmp_path / "params.yaml").write_text(f"fetch:\n  source: {tmp_path / 'bad.csv'}\n")
    code, lines = run("--params", str(tmp_path / "params.yaml"), "fetch", str(tmp_path), str(tmp_path / "raw"))
    assert code == 1 and len(lines) == 1 and "has no 'text' column" in lines[0]
    assert not (tmp_path / "raw").exists()


def test_a_closed_tracking_port_fails_select_in_seconds_in_one_masked_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The probe's case: MLflow's retries took ~250 s to give up, and printed the password in clear, twice.
    uri = f"http://alice:s3cret@127.0.0.1:{free_port()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    (tmp_path / "selected.json").write_text("{}")
    started = time.monotonic()
    done = subprocess.run(
        [SENTIMENT, "--params", REPO / "params.yaml", "select",
         *(tmp_path / name for name in ("c", "m", "p", "r", "d", "champion", "selected.json", "card.md", "card.json"))],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert time.monotonic() - started < 15
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1, done.stderr
    assert f"tracking store at {uri.replace('s3cret', '***')} does not answer (Connection refused" in lines[0]
    assert "s3cret" not in done.stdout + done.stderr
    assert (tmp_path / "selected.json").read_text() == "{}" and not (tmp_path / "champion").exists()


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (["positive"] * 12, "only {'positive': 12}; a classifier needs both negative and positive"),
        (["positive"] * 12 + ["negative"] * 3, "3 negative documents, under prepare.min_documents_per_label 10"),
    ],
)
def test_bad_data_stops_prepare_in_one_line_with_nothing_written(tmp_path: Path, labels: list, message: str) -> None:
    (tmp_path / "params.yaml").write_text("prepare:\n  min_documents_per_label: 10\n")
    rows = [{"id": str(n), "text": f"review {n}", "label": label} for n, label in enumerate(labels)]
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "reviews.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    outputs = [tmp_path / "out", tmp_path / "data.json", tmp_path / "lengths.png"]
    code, lines = run("--params", str(tmp_path / "params.yaml"), "prepare", str(tmp_path / "raw"), *map(str, outputs))
    assert code == 1 and len(lines) == 1 and f"{tmp_path / 'raw' / 'reviews.jsonl'}: {message}" in lines[0]
    assert not [path for path in [*outputs, *tmp_path.glob(".*.partial")] if path.exists()]
