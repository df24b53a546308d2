"""select: the CV-score rule that picks the champion, and the stage on the tiny corpus with a real MLflow sqlite
store per test."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pytest

from pipeline.errors import PipelineError
from pipeline.stages.select import SelectParams, choose, select
from tests.conftest import TINY_TRAIN


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
        assert child.data.params["kind"] == "nltk_naive_bayes"
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
