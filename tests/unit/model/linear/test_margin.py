"""Logistic regression, NBSVM and NB-LR: their hyper-parameters, and NBSVM's interpolation exported as fitted."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pipeline.corpus.splits import read_split
from pipeline.errors import PipelineError
from pipeline.model import LogisticRegressionModel, NbLogisticRegression, NbSvm, create
from pipeline.model.linear.margin import LogisticRegressionParams, NbLogisticRegressionParams, NbSvmParams


def test_params_default_to_the_published_recipes() -> None:
    assert NbSvm().params == NbSvmParams(alpha=1.0, inverse_regularization=1.0, interpolation=0.25, max_iterations=1000)
    assert NbLogisticRegression().params == NbLogisticRegressionParams(
        alpha=1.0, inverse_regularization=1.0, max_iterations=1000
    )
    assert LogisticRegressionModel().params == LogisticRegressionParams(inverse_regularization=1.0, max_iterations=1000)


def test_saved_options_are_every_param_beside_the_features(prepared: Path, tmp_path: Path) -> None:
    _, texts, labels = read_split(prepared / "train.jsonl")
    create("nbsvm", {"interpolation": 0.5}).fit(texts, labels).save(tmp_path)
    options = json.loads((tmp_path / "model.json").read_text())["options"]
    assert options.pop("features")["ngram_range"] == [1, 2]
    assert options == {"alpha": 1.0, "inverse_regularization": 1.0, "interpolation": 0.5, "max_iterations": 1000}


def test_unknown_options_name_the_kind() -> None:
    with pytest.raises(PipelineError, match="model kind 'nbsvm': .*unexpected keyword argument 'beta'"):
        create("nbsvm", {"beta": 0.25})
    with pytest.raises(PipelineError, match="model kind 'logistic_regression': .*unexpected keyword argument 'alpha'"):
        create("logistic_regression", {"alpha": 1.0})


def test_nbsvm_exports_its_interpolated_weights_times_the_ratios(prepared: Path) -> None:
    _, texts, labels = read_split(prepared / "train.jsonl")
    plain = create("nbsvm", {"interpolation": 1.0}).fit(texts, labels)
    uniform = create("nbsvm", {"interpolation": 0.0}).fit(texts, labels)
    # beta 0: every column weighs the mean |w| times its ratio, so the margin is proportional to sum(r * x).
    matrix = uniform.estimator_input(texts)
    margins = uniform.estimator.decision_function(matrix) - uniform.estimator.intercept_[0]
    assert np.allclose(margins, np.asarray(matrix.sum(axis=1)).ravel() * uniform.estimator.coef_[0, 0], rtol=1e-9)
    assert np.allclose(plain.scores(texts), plain.estimator.decision_function(plain.estimator_input(texts)))
