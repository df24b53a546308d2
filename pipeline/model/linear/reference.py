"""The parity oracle: the ensemble's members scored by their own scikit-learn estimators, for tests only."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from pipeline.model.linear.base import NgramLinearModel


def estimator_scores(estimator: Any, matrix: Any) -> np.ndarray:
    """A fitted scikit-learn estimator's log-odds of positive (naive Bayes) or margin (SVM, logistic regression)."""
    if hasattr(estimator, "decision_function"):
        return estimator.decision_function(matrix)
    joint = estimator.predict_joint_log_proba(matrix)
    return joint[:, 1] - joint[:, 0]


class ScoreSum:
    """The ensemble's estimator: its members' own scikit-learn scores, each divided by its scale, summed.

    Only tests use it, to check that the one exported weight vector scores as the members do.
    """

    def __init__(self, members: Sequence[NgramLinearModel], scales: Sequence[float]) -> None:
        self.members, self.scales = list(members), list(scales)

    def decision_function(self, matrix: Any) -> np.ndarray:
        total = np.zeros(matrix.shape[0])
        for member, scale in zip(self.members, self.scales, strict=True):
            total = total + estimator_scores(member.estimator, member.estimator_matrix(matrix)) / scale
        return total

    def predict(self, matrix: Any) -> np.ndarray:
        return (self.decision_function(matrix) > 0).astype(np.int64)
