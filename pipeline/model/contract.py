"""What callers may rely on: the protocols every model, and every model class in MODELS, satisfy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, Self, runtime_checkable

from pipeline.labels import Label

if TYPE_CHECKING:
    import numpy as np

    from pipeline.model.explanation import Explanation


class SentimentModel(Protocol):
    """Everything that stages, the service and the Lambda handler may use.

    Text goes in raw: every model tokenizes and cleans it itself, from settings saved beside its
    weights, so training and serving cannot drift apart.
    """

    kind: ClassVar[str]
    labels: tuple[Label, ...]  # ("negative", "positive"): strings, never 0/1

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> Self: ...
    def predict_proba(self, texts: Sequence[str]) -> list[dict[str, float]]: ...
    def predict(self, texts: Sequence[str]) -> list[str]: ...
    def save(self, directory: Path) -> None: ...


@runtime_checkable
class ScoringModel(SentimentModel, Protocol):
    """A model whose probability is the logistic of one score, so callers can read and rescale the score itself.

    Callers ask `isinstance(model, ScoringModel)`: cross-validation keeps its log-odds unclipped, and
    calibration multiplies them by one factor.
    """

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """Log-odds of positive per text."""
        ...

    def rescale(self, factor: float) -> None:
        """Multiply every score by `factor` > 0: labels and ranks stay, probabilities sharpen or soften."""
        ...


@runtime_checkable
class ExplainingModel(SentimentModel, Protocol):
    """A model that can say why: each text's log-odds of positive split into an intercept and its features' parts.

    Every kind in MODELS is one (tests/unit/model/test_registry.py); the API's `explain` option needs it.
    """

    def explain(self, texts: Sequence[str], top: int) -> list[Explanation]:
        """Per text, its `top` (>= 1) features by absolute contribution and everything else summed, adding up to
        the log-odds its predict_proba() came from."""
        ...


class ModelClass(Protocol):
    """A class in MODELS: create() calls it with a kind's options, load() reads a saved one back."""

    kind: str

    def __call__(self, **options: Any) -> SentimentModel: ...
    def load(self, directory: Path, options: Mapping[str, Any]) -> SentimentModel: ...
