"""Naive Bayes on n-grams: with two labels its log-odds is linear, so it exports as one weight per column."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import numpy as np

from pipeline.model.linear.base import NgramLinearModel


@dataclasses.dataclass(frozen=True)
class NaiveBayesParams:
    alpha: float = 1.0  # add-alpha smoothing of the per-label n-gram counts


class MultinomialNaiveBayes(NgramLinearModel):
    """Multinomial naive Bayes. With two labels its log-odds is linear: log P(w|pos) - log P(w|neg) per n-gram.

    Wang & Manning's "MNB" binarizes the counts (weighting: binary), which they found better for sentiment.
    """

    kind: ClassVar[str] = "multinomial_nb"
    Params = NaiveBayesParams
    params: NaiveBayesParams

    def fit_weights(self, matrix: Any, positive: np.ndarray) -> tuple[np.ndarray, float, Any]:
        from sklearn.naive_bayes import MultinomialNB

        if self._sums is not None:  # a streamed fit: the whole corpus's counts, as MultinomialNB computes from them
            sums, alpha = self._sums, self.params.alpha
            negative, positive_ = alpha + sums.negative, alpha + sums.positive
            coef = np.log(positive_ / positive_.sum()) - np.log(negative / negative.sum())
            return coef, float(np.log(sums.positive_documents / sums.negative_documents)), None
        estimator = MultinomialNB(alpha=self.params.alpha).fit(matrix, positive)
        log_prob, prior = estimator.feature_log_prob_, estimator.class_log_prior_
        return log_prob[1] - log_prob[0], float(prior[1] - prior[0]), estimator


class BernoulliNaiveBayes(NgramLinearModel):
    """Bernoulli naive Bayes: unlike multinomial NB, an absent n-gram is evidence too (folded into the intercept)."""

    kind: ClassVar[str] = "bernoulli_nb"
    Params = NaiveBayesParams
    params: NaiveBayesParams
    binary_only: ClassVar[bool] = True

    def fit_weights(self, matrix: Any, positive: np.ndarray) -> tuple[np.ndarray, float, Any]:
        from sklearn.naive_bayes import BernoulliNB

        if self._sums is not None:  # a streamed fit: the whole corpus's presence counts, as BernoulliNB reads them
            sums, alpha = self._sums, self.params.alpha
            present = [
                np.log((alpha + counts) / (documents + 2 * alpha))
                for counts, documents in (
                    (sums.negative, sums.negative_documents),
                    (sums.positive, sums.positive_documents),
                )
            ]
            absent = [np.log1p(-np.exp(values)) for values in present]
            coef = (present[1] - absent[1]) - (present[0] - absent[0])
            prior = np.log(sums.positive_documents / sums.negative_documents)
            return coef, float(prior + absent[1].sum() - absent[0].sum()), None
        estimator = BernoulliNB(alpha=self.params.alpha).fit(matrix, positive)
        present, prior = estimator.feature_log_prob_, estimator.class_log_prior_
        absent = np.log1p(-np.exp(present))
        coef = (present[1] - absent[1]) - (present[0] - absent[0])
        return coef, float(prior[1] - prior[0] + absent[1].sum() - absent[0].sum()), estimator


def log_count_ratios(matrix: Any, positive: np.ndarray, alpha: float) -> np.ndarray:
    """NBSVM's r = log((p / |p|_1) / (q / |q|_1)), p and q the alpha-smoothed presence counts per label."""
    return ratios_of(
        np.asarray(matrix[positive == 1].sum(axis=0)).ravel(),
        np.asarray(matrix[positive == 0].sum(axis=0)).ravel(),
        alpha,
    )


def ratios_of(positive_counts: np.ndarray, negative_counts: np.ndarray, alpha: float) -> np.ndarray:
    """log_count_ratios() from the per-label presence counts themselves (a streamed corpus has no matrix)."""
    p = alpha + positive_counts
    q = alpha + negative_counts
    return np.log(p / p.sum()) - np.log(q / q.sum())
