"""LinearEnsemble: several n-gram linear models on the same columns, their standardized scores summed."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from pipeline.errors import PipelineError
from pipeline.model.linear.base import ColumnSums, NgramLinearModel
from pipeline.model.linear.margin import LogisticRegressionModel, NbLogisticRegression, NbSvm
from pipeline.model.linear.naive_bayes import BernoulliNaiveBayes, MultinomialNaiveBayes
from pipeline.model.linear.reference import ScoreSum
from pipeline.model.ngrams.features import NgramFeatures

# The kinds a member may be: every n-gram linear model but the ensemble. MODELS lists them from here, so a
# new linear model added below is both a kind of its own and a possible member.
MEMBER_KINDS: dict[str, type[NgramLinearModel]] = {
    cls.kind: cls
    for cls in (MultinomialNaiveBayes, BernoulliNaiveBayes, LogisticRegressionModel, NbSvm, NbLogisticRegression)
}

DEFAULT_MEMBERS: tuple[Mapping[str, Any], ...] = ({"kind": "nbsvm"}, {"kind": "nb_logistic_regression"})


@dataclasses.dataclass(frozen=True)
class LinearEnsembleParams:
    # Each member's kind and options (never features: members share the ensemble's). Once the ensemble is
    # built, every option of every member is spelt out, defaults included, so model.json says what was fitted.
    members: tuple[Mapping[str, Any], ...] = DEFAULT_MEMBERS


class LinearEnsemble(NgramLinearModel):
    """Several linear models on the same n-gram columns, their scores summed: still one linear model.

    Each member's score is divided by its standard deviation over the training documents, so a member
    whose margins are wide (logistic regression) does not outvote one whose margins are narrow (an SVM's
    sit near +-1). Scores are not centred: each member's own intercept already places its threshold, and
    centring would move it whenever the labels are unbalanced. A sum of linear scores is linear, so the
    export is one weight per column and serving costs what a single model does. Its "probabilities" are
    the logistic of the sum: they rank and threshold at 0.5 correctly, but are not calibrated.
    """

    kind: ClassVar[str] = "linear_ensemble"
    Params = LinearEnsembleParams
    params: LinearEnsembleParams

    def __init__(self, features: Mapping[str, Any] | NgramFeatures | None = None, **options: Any) -> None:
        super().__init__(features, **options)
        self._members: list[NgramLinearModel] = []
        for spec in self.params.members:
            member_options = dict(spec)
            kind = member_options.pop("kind", None)
            if kind != self.kind and kind not in MEMBER_KINDS:
                raise PipelineError(f"{self.kind} member kind {kind!r} is not an n-gram linear model")
            if kind == self.kind or "features" in member_options:
                raise PipelineError(f"{self.kind} members share the ensemble's features and cannot be ensembles")
            self._members.append(MEMBER_KINDS[kind](features=self.features, **member_options))
        if not self._members:
            raise PipelineError(f"{self.kind} needs at least one member")
        self.params = LinearEnsembleParams(
            members=tuple({"kind": member.kind, **dataclasses.asdict(member.params)} for member in self._members)
        )

    def use_sums(self, sums: ColumnSums | None) -> None:
        super().use_sums(sums)
        for member in self._members:
            member.use_sums(sums)

    def fit_weights(self, matrix: Any, positive: np.ndarray) -> tuple[np.ndarray, float, Any]:
        coef, intercept, scales = np.zeros(matrix.shape[1]), 0.0, []
        for member in self._members:
            member_coef, member_intercept, member.estimator = member.fit_weights(matrix, positive)
            scale = float(np.std(matrix @ member_coef + member_intercept)) or 1.0
            coef += member_coef / scale
            intercept += member_intercept / scale
            scales.append(scale)
        return coef, intercept, ScoreSum(self._members, scales)
