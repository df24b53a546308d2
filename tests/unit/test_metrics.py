"""Calibration scores: Brier and log loss against scikit-learn's, reliability bins against its calibration_curve, and
the expected calibration error worked by hand."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss
from sklearn.metrics import log_loss as sklearn_log_loss

from pipeline.metrics import (
    brier_score,
    calibration_scores,
    classification_scores,
    expected_calibration_error,
    log_loss,
    reliability_bins,
    sigmoid,
)

TRUTH = np.array([1, 0, 1, 1, 0, 0, 1, 0])
SCORES = np.array([0.9, 0.1, 0.65, 0.35, 0.62, 0.05, 0.97, 0.4])


def test_brier_and_log_loss_equal_scikit_learns() -> None:
    assert brier_score(TRUTH, SCORES) == pytest.approx(brier_score_loss(TRUTH, SCORES), abs=1e-12)
    assert log_loss(TRUTH, SCORES) == pytest.approx(sklearn_log_loss(TRUTH, SCORES), abs=1e-12)


def test_brier_and_log_loss_by_hand() -> None:
    # A constant 0.5 is the uninformed reference: Brier 0.25, log loss ln 2.
    assert brier_score(np.array([1, 0]), np.array([0.5, 0.5])) == 0.25
    assert log_loss(np.array([1, 0]), np.array([0.5, 0.5])) == pytest.approx(np.log(2))
    # (0.2² + 0.4²) / 2 = 0.1; -(ln 0.8 + ln 0.6) / 2.
    assert brier_score(np.array([1, 0]), np.array([0.8, 0.4])) == pytest.approx(0.1)
    assert log_loss(np.array([1, 0]), np.array([0.8, 0.4])) == pytest.approx(-(np.log(0.8) + np.log(0.6)) / 2)


def test_a_confident_mistake_costs_a_finite_log_loss() -> None:
    # Naive Bayes rounds to exactly 0 or 1; clipped at 1e-12, one such mistake costs -ln(1e-12) = 27.6.
    assert log_loss(np.array([1]), np.array([0.0])) == pytest.approx(-np.log(1e-12))


def test_reliability_bins_are_scikit_learns_calibration_curve() -> None:
    rng = np.random.default_rng(3)
    scores = np.concatenate([rng.uniform(size=300), [0.0, 0.1, 0.2, 0.5, 1.0]])  # bin edges included
    truth = rng.uniform(size=scores.size) < scores**1.5
    observed, predicted = calibration_curve(truth, scores, n_bins=10, strategy="uniform")
    rows = reliability_bins(truth, scores)
    assert np.allclose([row["observed"] for row in rows], observed)
    assert np.allclose([row["predicted"] for row in rows], predicted)
    assert sum(row["documents"] for row in rows) == scores.size


def test_expected_calibration_error_by_hand() -> None:
    # Bin [0, 0.1]: 0.05, 0.1 (mean 0.075), none positive: gap 0.075, 2 documents.
    # Bin (0.6, 0.7]: 0.62, 0.65, 0.65, 0.68 (mean 0.65), 3 of 4 positive (0.75): gap 0.1, 4 documents.
    # Bin (0.9, 1.0]: 0.95, 0.97 (mean 0.96), both positive: gap 0.04, 2 documents.
    scores = np.array([0.05, 0.1, 0.62, 0.65, 0.65, 0.68, 0.95, 0.97])
    truth = np.array([0, 0, 1, 1, 0, 1, 1, 1])
    assert [(row["lower"], row["documents"]) for row in reliability_bins(truth, scores)] == [
        (0.0, 2),
        (0.6, 4),
        (0.9, 2),
    ]
    expected = (2 * 0.075 + 4 * 0.1 + 2 * 0.04) / 8
    assert expected_calibration_error(truth, scores) == pytest.approx(expected)


def test_perfectly_calibrated_bins_have_no_error() -> None:
    scores = np.array([0.25] * 4 + [0.75] * 4)
    truth = np.array([1, 0, 0, 0, 1, 1, 1, 0])
    assert expected_calibration_error(truth, scores) == 0.0


def test_calibration_scores_read_labels_and_test_scores_carry_them() -> None:
    actual = ["positive", "negative", "positive", "negative"]
    scores = calibration_scores(actual, np.array([0.8, 0.4, 0.8, 0.4]))
    assert scores["brier"] == pytest.approx(0.1) and scores["ece_bins"] == 10
    # Bin (0.3, 0.4]: 0.4 said, 0 observed; bin (0.7, 0.8]: 0.8 said, 1 observed: ECE (0.4 + 0.2) / 2.
    assert scores["ece"] == pytest.approx(0.3)
    probabilities = [{"negative": 1 - p, "positive": p} for p in (0.8, 0.4, 0.8, 0.4)]
    assert classification_scores(actual, probabilities)["calibration"] == scores


def test_sigmoid_does_not_overflow() -> None:
    assert np.allclose(sigmoid(np.array([-1000.0, 0.0, np.log(3), 1000.0])), [0.0, 0.5, 0.75, 1.0])
