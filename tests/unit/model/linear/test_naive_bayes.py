"""Naive Bayes kinds: their hyper-parameters, and the log-count ratios NBSVM and NB-LR scale by."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import sparse

from pipeline.errors import PipelineError
from pipeline.model import BernoulliNaiveBayes, MultinomialNaiveBayes, create
from pipeline.model.linear.naive_bayes import NaiveBayesParams, log_count_ratios


def test_params_default_and_are_saved_beside_the_features(tmp_path: Path) -> None:
    assert MultinomialNaiveBayes().params == BernoulliNaiveBayes().params == NaiveBayesParams(alpha=1.0)
    model = create("multinomial_nb", {"alpha": 0.5}).fit(["good film", "bad film"], ["positive", "negative"])
    model.save(tmp_path)
    options = json.loads((tmp_path / "model.json").read_text())["options"]
    assert set(options) == {"features", "alpha"} and options["alpha"] == 0.5


def test_log_count_ratios_compare_smoothed_presence_per_label() -> None:
    matrix = sparse.csr_matrix(np.array([[1, 0, 1], [1, 1, 0], [0, 1, 0]], dtype=float))
    positive = np.array([1, 1, 0])
    p, q = np.array([1 + 2, 1 + 1, 1 + 1]), np.array([1 + 0, 1 + 1, 1 + 0])
    expected = np.log(p / p.sum()) - np.log(q / q.sum())
    assert np.allclose(log_count_ratios(matrix, positive, alpha=1.0), expected, rtol=1e-12, atol=0)


def test_bernoulli_counts_an_absent_ngram_as_evidence() -> None:
    """Multinomial NB scores an empty text by the label prior alone; Bernoulli NB also by every n-gram it lacks."""
    texts, labels = ["good", "bad", "bad film"], ["positive", "negative", "negative"]
    options = {"features": {"ngram_range": [1, 1]}}
    multinomial = create("multinomial_nb", options).fit(texts, labels)
    bernoulli = create("bernoulli_nb", options).fit(texts, labels)
    prior = np.log(1 / 3) - np.log(2 / 3)
    assert multinomial.scores([""])[0] == pytest.approx(prior)
    lacking = bernoulli.estimator.predict_joint_log_proba(bernoulli.estimator_input([""]))[0]
    assert bernoulli.scores([""])[0] == pytest.approx(lacking[1] - lacking[0])
    assert bernoulli.scores([""])[0] == pytest.approx(prior + np.log(128 / 81))  # (1/3 2/3 2/3) / (3/4 1/4 1/2)
    with pytest.raises(PipelineError, match="bernoulli_nb reads presence only"):
        create("bernoulli_nb", {"features": {"weighting": "count"}})
