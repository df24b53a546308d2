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


def positive_scores(probabilities: Sequence[dict[str, float]]) -> np.ndarray:
    return np.array([p[POSITIVE] for p in probabilities])


def predicted_labels(probabilities: Sequence[dict[str, float]]) -> list[str]:
    return [top_label(p) for p in probabilities]


def classification_scores(actual: Sequence[str], probabilities: Sequence[dict[str, float]]) -> dict[str, Any]:
    """Accuracy, macro F1, ROC AUC and per-class precision/recall/F1 (the confusion matrix is a plot)."""
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
    }
    for i, label in enumerate(LABELS):
        result[label] = {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
    return result
