"""Comprehend's pure parts, which need no AWS: truncation, billing, the document cap and score mapping."""

from __future__ import annotations

import pytest

from pipeline.baselines import comprehend as aws


def test_truncation_keeps_whole_characters() -> None:
    assert aws.truncate_utf8("short €") == "short €"
    # "€" is 3 bytes: 4,998 + 3 would be 5,001, so the euro sign goes whole rather than half.
    cut = aws.truncate_utf8("a" * 4998 + "€" + "tail")
    assert cut == "a" * 4998 and len(cut.encode()) == 4998
    for character in ("é", "€", "🎬"):
        text = character * 3000
        cut = aws.truncate_utf8(text)
        assert text.startswith(cut) and 5000 - len(character.encode()) < len(cut.encode()) <= 5000


def test_billable_units_round_up_with_a_minimum_of_three() -> None:
    assert [aws.billable_units("x" * n) for n in (0, 1, 300, 301, 1000, 1001)] == [3, 3, 3, 4, 10, 11]


def test_cap_takes_each_label_in_turn() -> None:
    labels = ["positive"] * 5 + ["negative"] * 3
    assert aws.capped(labels, 4) == [0, 1, 5, 6]
    assert aws.capped(labels, 7) == [0, 1, 2, 3, 5, 6, 7]
    assert aws.capped(labels, 100) == list(range(8))


@pytest.mark.parametrize(
    ("neutral", "mixed", "positive"),
    [
        ("split", "split", 0.6),
        ("negative", "negative", 0.3),
        ("positive", "negative", 0.8),
        ("positive", "split", 0.85),
    ],
)
def test_undecided_scores_go_where_params_say(neutral: str, mixed: str, positive: float) -> None:
    score = {"Positive": 0.3, "Negative": 0.1, "Neutral": 0.5, "Mixed": 0.1}
    result = aws.probabilities(score, neutral, mixed)
    assert result["positive"] == pytest.approx(positive) and result["negative"] == pytest.approx(1 - positive)
