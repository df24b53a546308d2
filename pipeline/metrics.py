"""The scores every candidate and baseline is compared on, computed one way for CV and test alike."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn import metrics

from pipeline.labels import LABELS, top_label

POSITIVE = LABELS[1]
# The scores cross-validation reports per candidate, and so the ones select may choose by.
CV_KEYS = ("accuracy", "f1_macro", "roc_auc")
# Reliability is read in this many equal-width bins of P(positive) over [0, 1]: on 400 test reviews, ~40 a bin
# if scores were spread evenly; fewer bins hide miscalibration, more leave bins of a handful of reviews.
CALIBRATION_BINS = 10
# Probabilities are kept this far from 0 and 1 before a logarithm: naive Bayes rounds many to exactly 0 or 1,
# and one confidently wrong review would otherwise make the log loss infinite.
PROBABILITY_CLIP = 1e-12


def positive_scores(probabilities: Sequence[dict[str, float]]) -> np.ndarray:
    return np.array([p[POSITIVE] for p in probabilities])


def predicted_labels(probabilities: Sequence[dict[str, float]]) -> list[str]:
    return [top_label(p) for p in probabilities]


def sigmoid(log_odds: np.ndarray) -> np.ndarray:
    """P(positive) from log-odds, without overflow for the large margins of an unscaled model."""
    return np.exp(-np.logaddexp(0.0, -np.asarray(log_odds, dtype=float)))


def brier_score(actual_positive: np.ndarray, positive: np.ndarray) -> float:
    """Mean squared gap between P(positive) and the 0/1 truth: 0 is perfect, 0.25 is a constant 0.5."""
    return float(np.mean((np.asarray(positive, dtype=float) - np.asarray(actual_positive, dtype=float)) ** 2))


def log_loss(actual_positive: np.ndarray, positive: np.ndarray) -> float:
    """Mean negative log-likelihood of the truth (natural log): ln 2 = 0.693 is a constant 0.5; unlike Brier it
    punishes a confident mistake without bound, so it is the score that finds overconfidence."""
    clipped = np.clip(np.asarray(positive, dtype=float), PROBABILITY_CLIP, 1 - PROBABILITY_CLIP)
    truth = np.asarray(actual_positive, dtype=bool)
    return float(-np.mean(np.where(truth, np.log(clipped), np.log1p(-clipped))))


def reliability_bins(
    actual_positive: np.ndarray, positive: np.ndarray, bins: int = CALIBRATION_BINS
) -> list[dict[str, float]]:
    """Per non-empty equal-width bin of P(positive): its bounds, documents, mean P(positive) ("predicted") and the
    fraction truly positive ("observed"). A calibrated model's points lie on predicted == observed.

    Bins are (lower, upper], the first [0, upper], as scikit-learn's calibration_curve(strategy="uniform") cuts them.
    """
    scores = np.asarray(positive, dtype=float)
    truth = np.asarray(actual_positive, dtype=float)
    edges = np.arange(bins + 1) / bins  # 6 / 10 is 0.6 exactly; linspace gives 0.6000000000000001
    index = np.searchsorted(edges[1:-1], scores)
    rows = []
    for number in range(bins):
        members = index == number
        if members.any():
            rows.append(
                {
                    "lower": float(edges[number]),
                    "upper": float(edges[number + 1]),
                    "documents": int(members.sum()),
                    "predicted": float(scores[members].mean()),
                    "observed": float(truth[members].mean()),
                }
            )
    return rows


def expected_calibration_error(
    actual_positive: np.ndarray, positive: np.ndarray, bins: int = CALIBRATION_BINS
) -> float:
    """Document-weighted mean of |observed - predicted| over reliability_bins(): the average gap, in probability,
    between what the model says and how often it is so (for P(positive), not the top label's confidence)."""
    rows = reliability_bins(actual_positive, positive, bins)
    total = sum(row["documents"] for row in rows)
    return float(sum(row["documents"] * abs(row["observed"] - row["predicted"]) for row in rows) / total)


def calibration_scores(actual: Sequence[str], positive: np.ndarray) -> dict[str, float | int]:
    """Brier score, log loss and ECE of P(positive) against labels: whether a score of 0.8 is right 80 % of the time."""
    truth = np.array([label == POSITIVE for label in actual])
    return {
        "brier": brier_score(truth, positive),
        "log_loss": log_loss(truth, positive),
        "ece": expected_calibration_error(truth, positive),
        "ece_bins": CALIBRATION_BINS,
    }


def classification_scores(actual: Sequence[str], probabilities: Sequence[dict[str, float]]) -> dict[str, Any]:
    """Accuracy, macro F1, ROC AUC, per-class precision/recall/F1 (the confusion matrix is a plot) and, under
    "calibration", how far P(positive) can be read as a probability."""
    predicted = predicted_labels(probabilities)
    # scikit-learn's hint says zero_division is a str; its documentation (and code) take 0 as well.
    columns = metrics.precision_recall_fscore_support(
        actual,
        predicted,
        labels=list(LABELS),
        zero_division=0,  # pyright: ignore[reportArgumentType]
    )
    precision, recall, f1, support = (np.asarray(column, dtype=float) for column in columns)
    result: dict[str, Any] = {
        "accuracy": float(metrics.accuracy_score(actual, predicted)),
        "f1_macro": float(np.mean(f1)),
        "roc_auc": float(metrics.roc_auc_score([a == POSITIVE for a in actual], positive_scores(probabilities))),
        "documents": len(actual),
        "calibration": calibration_scores(actual, positive_scores(probabilities)),
    }
    for i, label in enumerate(LABELS):
        result[label] = {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
    return result
