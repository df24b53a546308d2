"""The baseline stage: VADER's metrics and MLflow run on the tiny corpus, its params, and Comprehend's opt-in."""

from __future__ import annotations

import logging
from pathlib import Path

import mlflow
import pytest

from pipeline.baselines import comprehend as aws
from pipeline.baselines.vader import VaderParams
from pipeline.errors import PipelineError
from pipeline.files import read_json
from pipeline.metrics import classification_scores
from pipeline.params import load_section, parse
from pipeline.stages.baseline import BaselineParams, baseline
from tests.conftest import REPO, use_nltk_data


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
    candidate_keys = classification_scores(["negative", "positive"], [{"negative": 0.9, "positive": 0.1}] * 2)
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
    with pytest.raises(PipelineError, match="baseline.vader.threshold: got an unknown key; .* positive_threshold"):
        parse(BaselineParams, {"vader": {"threshold": 0.1}}, "baseline")
    with pytest.raises(PipelineError, match="baseline.comprehend.neutral: got 'maybe' .*; needs one of negative, "):
        parse(BaselineParams, {"comprehend": {"neutral": "maybe"}}, "baseline")
    with pytest.raises(PipelineError, match="unknown baseline 'textblob'; known: vader, comprehend"):
        baseline(BaselineParams(), "textblob", Path("p"), Path("o"), "tiny")


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
