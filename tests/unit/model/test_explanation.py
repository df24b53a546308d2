"""The ranking every explanation shows: largest |contribution| first, ties by key, the rest summed."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.model.explanation import explanations, top_contributions, top_features


def test_top_features_rank_by_magnitude_then_key() -> None:
    values = np.array([0.5, -2.0, 1.0, -1.0, 0.25])
    keys = np.array([40, 30, 20, 10, 0])
    assert top_features(values, keys, 3).tolist() == [1, 3, 2]  # -2.0, then -1.0 (key 10) before 1.0 (key 20)
    assert top_features(values, keys, 99).tolist() == [1, 3, 2, 0, 4]
    assert top_features(values[:0], keys[:0], 3).tolist() == []


def test_top_contributions_per_text_and_the_rest_summed() -> None:
    values = np.array([0.5, -2.0, 1.0, 3.0, -0.5, 0.125])
    keys = np.arange(6)
    bounds = np.array([0, 3, 3, 6])  # three texts, the second without a known feature
    chosen, starts, rest = top_contributions(values, keys, bounds, 2)
    assert chosen.tolist() == [1, 2, 3, 4] and starts.tolist() == [0, 2, 2, 4]
    assert rest.tolist() == [0.5, 0.0, 0.125]
    with pytest.raises(ValueError, match="at least 1"):
        top_contributions(values, keys, bounds, 0)


def test_explanations_add_up() -> None:
    values = np.array([0.5, -2.0, 1.0])
    chosen, starts, rest = top_contributions(values, np.arange(3), np.array([0, 3]), 1)
    (one,) = explanations([-0.25], [{"negative": 0.56, "positive": 0.44}], 0.25, values[chosen], ["b"], starts, rest)
    assert one.contributions == [("b", -2.0)] and one.other == 1.5
    assert one.intercept + sum(part for _, part in one.contributions) + one.other == one.log_odds
