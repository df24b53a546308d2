"""Why a model scored a text as it did: its log-odds split into an intercept and one contribution per feature."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class Explanation:
    """One text's log-odds of positive, split so that intercept + sum(contributions) + other == log_odds.

    `contributions` are the `top` features by absolute contribution, largest first, each signed towards positive
    (above 0 pushes to "positive"); `other` sums every contribution left out. `probabilities` are what
    predict_proba() answers for the same text, so a caller that explains need not score the text twice.
    """

    probabilities: dict[str, float]
    log_odds: float
    intercept: float
    contributions: list[tuple[str, float]]
    other: float


def top_features(values: np.ndarray, keys: np.ndarray, top: int) -> np.ndarray:
    """Positions of the `top` largest |values|, largest first; equal ones in ascending `keys`.

    The tie-break makes every path pick the same features: naive Bayes weights repeat exactly (every n-gram
    seen once, in positive reviews only, weighs the same), and the scoring paths list a text's matches in
    different orders. This is the specification; the compiled scorer's pick() is tested against it.
    """
    order = np.lexsort((keys, -np.abs(values)))
    return order[:top]


def top_contributions(
    values: np.ndarray, keys: np.ndarray, bounds: np.ndarray, top: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each text's top_features() end to end, where each text's run starts, and the sum of each text's rest.

    Text d's contributions are values[bounds[d]:bounds[d + 1]]. The compiled scorer picks its top as it scores
    (NgramScorer.explain); this is the numpy path's way, and the reference both are tested against.
    """
    if top < 1:
        raise ValueError(f"top must be at least 1, not {top}")
    runs, rest = [np.zeros(0, dtype=np.int64)], np.zeros(len(bounds) - 1)
    for text, (low, high) in enumerate(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True)):
        chosen = top_features(values[low:high], keys[low:high], top)
        left_out = np.ones(high - low, dtype=bool)
        left_out[chosen] = False
        runs.append(chosen + low)
        rest[text] = values[low:high][left_out].sum()
    starts = np.cumsum([0, *map(len, runs[1:])])
    return np.concatenate(runs), starts, rest


def explanations(
    log_odds: Sequence[float],
    probabilities: Sequence[dict[str, float]],
    intercept: float,
    shown: np.ndarray,
    features: Sequence[str],
    starts: np.ndarray,
    rest: np.ndarray,
) -> list[Explanation]:
    """A batch's Explanations: text d shows shown[starts[d]:starts[d + 1]], named by `features`, and sums
    the rest of its contributions in rest[d]."""
    values, runs = shown.tolist(), starts.tolist()
    return [
        Explanation(
            probabilities=answer,
            log_odds=float(score),
            intercept=float(intercept),
            contributions=list(zip(features[low:high], values[low:high], strict=True)),
            other=float(left_out),
        )
        for score, answer, low, high, left_out in zip(
            log_odds, probabilities, runs[:-1], runs[1:], rest.tolist(), strict=True
        )
    ]
