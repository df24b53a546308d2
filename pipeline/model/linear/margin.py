"""Margin-based n-gram models: logistic regression, and NBSVM and NB-LR on naive Bayes-scaled n-grams."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import numpy as np

from pipeline.model.linear.base import NgramLinearModel
from pipeline.model.linear.naive_bayes import ratios_of


@dataclasses.dataclass(frozen=True)
class LogisticRegressionParams:
    inverse_regularization: float = 1.0  # scikit-learn's C: larger fits the data harder
    max_iterations: int = 1000


@dataclasses.dataclass(frozen=True)
class NbSvmParams:
    alpha: float = 1.0  # smoothing of the presence counts in r
    inverse_regularization: float = 1.0  # the SVM's C
    interpolation: float = 0.25  # the paper's beta: 1 is the plain SVM, 0 uniform weights on r
    max_iterations: int = 1000


@dataclasses.dataclass(frozen=True)
class NbLogisticRegressionParams:
    alpha: float = 1.0  # smoothing of the presence counts in r
    inverse_regularization: float = 1.0  # scikit-learn's C
    max_iterations: int = 1000


def liblinear_logistic_regression(inverse_regularization: float, max_iterations: int) -> Any:
    """An unfitted L2 logistic regression, solved in its dual by liblinear.

    The dual problem has one variable per document rather than per n-gram: ~10x faster here, same optimum.
    """
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(
        C=inverse_regularization, solver="liblinear", dual=True, max_iter=max_iterations, random_state=0
    )


class LogisticRegressionModel(NgramLinearModel):
    """L2-regularized logistic regression (liblinear), the usual partner of tf-idf features."""

    kind: ClassVar[str] = "logistic_regression"
    Params = LogisticRegressionParams
    params: LogisticRegressionParams

    def fit_weights(self, matrix: Any, positive: np.ndarray) -> tuple[np.ndarray, float, Any]:
        p = self.params
        estimator = liblinear_logistic_regression(p.inverse_regularization, p.max_iterations).fit(matrix, positive)
        return estimator.coef_[0].copy(), float(estimator.intercept_[0]), estimator


class NbScaled(NgramLinearModel):
    """Features of NBSVM and NB-LR: binarized n-grams scaled by the naive Bayes log-count ratios r."""

    binary_only: ClassVar[bool] = True
    _ratios: np.ndarray | None = None

    def estimator_matrix(self, matrix: Any) -> Any:
        from scipy import sparse

        return matrix @ sparse.diags(self._ratios)

    def fit_ratios(self, matrix: Any, positive: np.ndarray, alpha: float) -> tuple[np.ndarray, Any]:
        """The log-count ratios fitted on these documents, and the estimator's input scaled by them."""
        sums = self.column_sums(matrix, positive)
        ratios = self._ratios = ratios_of(sums.positive, sums.negative, alpha)
        return ratios, self.estimator_matrix(matrix)


class NbSvm(NbScaled):
    """NBSVM (Wang & Manning 2012): a linear SVM on binarized n-grams scaled by naive Bayes log-count ratios.

    r = log((p / |p|_1) / (q / |q|_1)), with p and q the smoothed per-label presence counts; the SVM
    learns w on r * x, then w is pulled towards its mean magnitude: w' = (1 - beta) * mean|w| + beta * w.
    Its "probabilities" are the logistic of the SVM margin: they rank and threshold at 0.5 correctly,
    but are not calibrated.
    """

    kind: ClassVar[str] = "nbsvm"
    Params = NbSvmParams
    params: NbSvmParams

    def fit_weights(self, matrix: Any, positive: np.ndarray) -> tuple[np.ndarray, float, Any]:
        from sklearn.svm import LinearSVC

        p = self.params
        ratios, scaled = self.fit_ratios(matrix, positive, p.alpha)
        estimator: Any = LinearSVC(C=p.inverse_regularization, max_iter=p.max_iterations, random_state=0)
        estimator.fit(scaled, positive)
        weights = estimator.coef_[0]
        interpolated = (1 - p.interpolation) * np.abs(weights).mean() + p.interpolation * weights
        # The estimator now scores exactly as the exported model, so tests can compare the two.
        estimator.coef_ = interpolated[np.newaxis, :]
        return interpolated * ratios, float(estimator.intercept_[0]), estimator


class NbLogisticRegression(NbScaled):
    """NB-LR: NBSVM's recipe with L2 logistic regression in place of the SVM and no interpolation.

    The features are binarized n-grams scaled by the naive Bayes log-count ratios r, as in NBSVM; the
    logistic loss makes the exported probabilities those of a fitted logistic model.
    """

    kind: ClassVar[str] = "nb_logistic_regression"
    Params = NbLogisticRegressionParams
    params: NbLogisticRegressionParams

    def fit_weights(self, matrix: Any, positive: np.ndarray) -> tuple[np.ndarray, float, Any]:
        p = self.params
        ratios, scaled = self.fit_ratios(matrix, positive, p.alpha)
        estimator = liblinear_logistic_regression(p.inverse_regularization, p.max_iterations).fit(scaled, positive)
        return estimator.coef_[0] * ratios, float(estimator.intercept_[0]), estimator
