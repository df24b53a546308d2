"""VADER (NLTK's lexicon-based sentiment) as a pre-made baseline: its compound score read as a probability."""

from __future__ import annotations

import logging

from pydantic import Field

from pipeline.corpus.nltk_data import vader_lexicon
from pipeline.params import Params
from pipeline.progress import logged

log = logging.getLogger(__name__)


class VaderParams(Params):
    # The compound score (-1..1) that maps to P(positive) = 0.5. 0 is the lexicon's own midpoint.
    # Strictly inside -1..1: compound_probabilities() divides by the threshold's distance to each end.
    positive_threshold: float = Field(default=0.0, gt=-1, lt=1)


def compound_probabilities(compound: float, threshold: float) -> dict[str, float]:
    """VADER's compound score -> probabilities, linear on each side of `threshold` so -1 -> 0 and 1 -> 1.

    Monotonic, so ROC AUC is the compound score's own; only accuracy and F1 depend on the threshold.
    """
    if compound >= threshold:
        positive = 0.5 + 0.5 * (compound - threshold) / (1 - threshold)
    else:
        positive = 0.5 - 0.5 * (threshold - compound) / (1 + threshold)
    positive = min(1.0, max(0.0, positive))
    return {"negative": 1 - positive, "positive": positive}


def vader(texts: list[str], p: VaderParams) -> list[dict[str, float]]:
    """Score whole documents, as users call VADER off the shelf.

    VADER is made for short texts and a review's compound score saturates near +-1, but averaging
    sentences would need a sentence splitter, and tuning it would stop this being a pre-made baseline.
    """
    from nltk.sentiment.vader import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer(lexicon_file=vader_lexicon())
    return [
        compound_probabilities(analyzer.polarity_scores(text)["compound"], p.positive_threshold)
        for text in logged(texts, len(texts), "documents scored by VADER", log)
    ]
