"""Baselines: VADER with its real lexicon on the tiny corpus, and Comprehend's pure parts (no AWS)."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import mlflow
import nltk
import pytest

from pipeline.baselines import comprehend as aws
from pipeline.baselines.vader import VaderParams, compound_probabilities, vader
from pipeline.errors import PipelineError
from pipeline.files import read_json
from pipeline.metrics import scores
from pipeline.params import load_section
from pipeline.stages.baseline import BaselineParams, baseline
from tests.conftest import REPO, SHARED_NLTK_DATA, use_nltk_data

LEXICON = Path("sentiment") / "vader_lexicon.zip"


@pytest.fixture
def vader_lexicon(nltk_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The real VADER lexicon copied beside the tiny corpus; skipped where no copy is found."""
    for candidate in (os.environ.get("NLTK_DATA"), str(SHARED_NLTK_DATA)):
        if candidate and (Path(candidate) / LEXICON).exists():
            extra = tmp_path / "nltk_lexicon"
            (extra / LEXICON).parent.mkdir(parents=True)
            shutil.copy(Path(candidate) / LEXICON, extra / LEXICON)
            # Ahead of the tiny corpus, whose own small lexicon only serves the dvc repro test.
            monkeypatch.setattr(nltk.data, "path", [str(extra), str(nltk_home)])
            monkeypatch.setenv("NLTK_DATA", os.pathsep.join([str(extra), str(nltk_home)]))
            return extra
    pytest.skip("sentiment/vader_lexicon.zip is not available (set NLTK_DATA to a folder that has it)")


def test_vader_ranks_clear_reviews(vader_lexicon: Path) -> None:  # noqa: ARG001 (the lexicon it points at)
    glowing, scathing, flat = vader(
        [
            "A wonderful, moving film: superb acting and a brilliant script. I loved it.",
            "A dull, boring mess. The worst film this year, awful and tedious.",
            "The film is two hours long and was shot in Ohio.",
        ],
        VaderParams(),
    )
    assert glowing["positive"] > 0.9 and scathing["positive"] < 0.1
    assert glowing["positive"] > flat["positive"] > scathing["positive"]
    assert flat == {"negative": 0.5, "positive": 0.5}
    assert all(abs(sum(p.values()) - 1) < 1e-9 for p in (glowing, scathing, flat))


def test_compound_maps_monotonically_onto_probabilities() -> None:
    assert compound_probabilities(-1.0, 0.0) == {"negative": 1.0, "positive": 0.0}
    assert compound_probabilities(1.0, 0.2)["positive"] == 1.0
    assert compound_probabilities(0.2, 0.2)["positive"] == 0.5
    ladder = [compound_probabilities(c / 10, 0.3)["positive"] for c in range(-10, 11)]
    assert ladder == sorted(ladder)
    with pytest.raises(PipelineError, match="positive_threshold must be between -1 and 1"):
        VaderParams(positive_threshold=1.0)


def test_vader_baseline_writes_candidate_metrics_and_an_mlflow_run(
    vader_lexicon: Path,  # noqa: ARG001 (the lexicon it points at)
    prepared: Path,
    tmp_path: Path,
) -> None:
    out = tmp_path / "metrics" / "vader" / "test.json"
    result = baseline(BaselineParams(), "vader", prepared, out, "tiny")
    written = read_json(out)
    assert written == result
    # The same keys as a candidate's metrics/candidates/<name>/test.json, so `dvc metrics show` lines them up.
    candidate_keys = scores(["negative", "positive"], [{"negative": 0.9, "positive": 0.1}] * 2)
    assert set(written) == set(candidate_keys)
    assert set(written["positive"]) == set(candidate_keys["positive"])
    assert written["documents"] == 4
    # The tiny corpus uses words VADER's lexicon knows ("superb", "awful"): it should get them right.
    assert written["accuracy"] == 1.0 and written["roc_auc"] == 1.0
    assert not list(out.parent.glob(".*.partial"))

    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name("tiny")
    (run,) = client.search_runs([experiment.experiment_id], "tags.role = 'baseline'")
    assert run.info.run_name == "vader" and run.data.tags["baseline"] == "vader"
    assert run.data.metrics["test_accuracy"] == 1.0
    assert {"test_f1_macro", "test_roc_auc", "test_positive_f1", "test_negative_recall"} <= set(run.data.metrics)
    assert run.data.params["positive_threshold"] == "0.0"


def test_missing_lexicon_names_the_remedies(prepared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_nltk_data(monkeypatch, tmp_path / "no_nltk_data")
    with pytest.raises(PipelineError, match=r"'vader_lexicon' is not in .* set NLTK_DATA .* nltk.downloader"):
        baseline(BaselineParams(), "vader", prepared, tmp_path / "vader.json", "tiny")
    assert not (tmp_path / "vader.json").exists()


def test_a_failed_mlflow_log_leaves_no_metrics_file(
    vader_lexicon: Path,  # noqa: ARG001 (the lexicon it points at)
    prepared: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(*_args: object) -> str:
        raise PipelineError("MLflow is down")

    monkeypatch.setattr("pipeline.stages.baseline.log_baseline", refuse)
    out = tmp_path / "metrics" / "vader" / "test.json"
    with pytest.raises(PipelineError, match="MLflow is down"):
        baseline(BaselineParams(), "vader", prepared, out, "tiny")
    assert list(out.parent.iterdir()) == []


def test_params_yaml_section_and_misspelt_keys() -> None:
    shipped = load_section(BaselineParams, "baseline", REPO / "params.yaml")
    assert shipped.vader == VaderParams()
    # Shipped params must never spend money: no opt-in and a zero cap.
    assert not shipped.comprehend.enabled and shipped.comprehend.max_documents == 0
    with pytest.raises(PipelineError, match="baseline.vader: unknown key.* threshold"):
        BaselineParams(vader={"threshold": 0.1})
    with pytest.raises(PipelineError, match="baseline.comprehend.neutral is 'maybe'"):
        BaselineParams(comprehend={"neutral": "maybe"})
    with pytest.raises(PipelineError, match="unknown baseline 'textblob'; known: vader, comprehend"):
        baseline(BaselineParams(), "textblob", Path("p"), Path("o"), "tiny")


def test_truncation_keeps_whole_characters() -> None:
    assert aws.truncate_utf8("short €") == "short €"
    # "€" is 3 bytes: 4,998 + 3 would be 5,001, so the euro sign goes whole rather than half.
    cut = aws.truncate_utf8("a" * 4998 + "€" + "tail")
    assert cut == "a" * 4998 and len(cut.encode()) == 4998
    for character in ("é", "€", "🎬"):
        text = character * 3000
        cut = aws.truncate_utf8(text)
        assert text.startswith(cut) and 5000 - len(character.encode()) < len(cut.encode()) <= 5000


def test_billable_units_round_up_with_a_minimum_of_three() -> None:
    assert [aws.billable_units("x" * n) for n in (0, 1, 300, 301, 1000, 1001)] == [3, 3, 3, 4, 10, 11]


def test_cap_takes_each_label_in_turn() -> None:
    labels = ["positive"] * 5 + ["negative"] * 3
    assert aws.capped(labels, 4) == [0, 1, 5, 6]
    assert aws.capped(labels, 7) == [0, 1, 2, 3, 5, 6, 7]
    assert aws.capped(labels, 100) == list(range(8))


@pytest.mark.parametrize(
    ("neutral", "mixed", "positive"),
    [
        ("split", "split", 0.6),
        ("negative", "negative", 0.3),
        ("positive", "negative", 0.8),
        ("positive", "split", 0.85),
    ],
)
def test_undecided_scores_go_where_params_say(neutral: str, mixed: str, positive: float) -> None:
    score = {"Positive": 0.3, "Negative": 0.1, "Neutral": 0.5, "Mixed": 0.1}
    result = aws.probabilities(score, neutral, mixed)
    assert result["positive"] == pytest.approx(positive) and result["negative"] == pytest.approx(1 - positive)


def test_comprehend_refuses_without_opt_in_after_logging_the_cost(
    prepared: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_client(*_args: object) -> None:
        raise AssertionError("no AWS client may be made without an opt-in")

    monkeypatch.setattr(aws, "client", no_client)
    out = tmp_path / "comprehend.json"
    caplog.set_level(logging.INFO, logger="pipeline")
    capped_only = BaselineParams(comprehend={"max_documents": 2})
    with pytest.raises(PipelineError, match=r"runs only on request: pass --yes") as refused:
        baseline(capped_only, "comprehend", prepared, out, "tiny")
    assert "\n" not in str(refused.value)
    assert "Comprehend bills 6 units for 2 documents" in caplog.text and "about $0.0006" in caplog.text
    with pytest.raises(PipelineError, match="set baseline.comprehend.max_documents"):
        baseline(BaselineParams(), "comprehend", prepared, out, "tiny", confirmed=True)
    with pytest.raises(PipelineError, match="set baseline.comprehend.max_documents"):
        baseline(BaselineParams(comprehend={"enabled": True}), "comprehend", prepared, out, "tiny")
    assert not out.exists()
