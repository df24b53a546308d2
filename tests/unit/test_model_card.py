"""The model card's figures: Wilson intervals, length bands, the top-weighted n-grams, and the Markdown."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline import model_card
from pipeline.files import read_json
from pipeline.model import create
from tests.conftest import train_tiny_champion
from tests.support.card import write_card


@pytest.mark.parametrize(
    ("correct", "total", "expected"),
    [
        (5, 10, (0.2366, 0.7634)),  # Wilson's interval for 5/10 at 95 %, as published tables give it
        (10, 10, (0.7225, 1.0)),  # 10 right of 10 still leaves room down to 72 %
        (0, 10, (0.0, 0.2775)),
        (359, 400, (0.8639, 0.9235)),  # the champion's test accuracy, 89.75 % of 400
    ],
)
def test_wilson_interval(correct: int, total: int, expected: tuple[float, float]) -> None:
    assert model_card.wilson_interval(correct, total) == pytest.approx(expected, abs=1e-4)


def test_an_empty_group_has_no_accuracy_and_the_whole_interval() -> None:
    assert model_card.accuracy_with_interval(0, 0) == {
        "documents": 0, "correct": 0, "accuracy": None, "interval_95": None,
    }  # fmt: skip
    assert model_card.wilson_interval(0, 0) == (0.0, 1.0)


def test_length_bands_follow_the_issue() -> None:
    assert [model_card.band(n) for n in (0, 1, 30, 31, 300, 301, 5000)] == [
        "<=30", "<=30", "<=30", "31-300", "31-300", ">300", ">300",
    ]  # fmt: skip


def test_top_ngrams_of_a_linear_model_are_its_largest_weights(tmp_path: Path) -> None:
    model = create("logistic_regression", {})
    model.fit(
        ["a superb moving film", "wonderful and superb", "a dull boring mess", "awful dull plot"],
        ["positive", "positive", "negative", "negative"],
    )
    model.save(tmp_path)
    top = model_card.top_ngrams(tmp_path, 3)
    with np.load(tmp_path / "weights.npz") as arrays:
        weights = dict(zip(read_json(tmp_path / "vocabulary.json"), arrays["coef"].tolist(), strict=True))
    assert [row["weight"] for row in top["positive"]] == sorted(weights.values(), reverse=True)[:3]
    assert [row["weight"] for row in top["negative"]] == sorted(weights.values())[:3]
    assert all(weights[row["ngram"]] == row["weight"] for row in top["positive"] + top["negative"])
    assert top["positive"][0]["ngram"] == "superb" and "dull" in {row["ngram"] for row in top["negative"]}


def test_the_card_of_a_tiny_champion_renders(tmp_path: Path) -> None:
    model = train_tiny_champion(tmp_path, tmp_path / "champion", "ensemble_negation_tail")
    paths = write_card(tmp_path, model, "ensemble_negation_tail")
    card = read_json(paths["summary"])
    markdown = paths["markdown"].read_text()
    assert markdown.startswith("# Model card: tiny-sentiment version 1\n")
    # A band without test documents says so rather than showing 0 %.
    assert "| test, tokens <=30 | 0 | — | — |" in markdown
    assert card["metrics"]["test_by_length"]["31-300"]["documents"] == card["data"]["test"]["documents"]
    assert card["behaviour"]["negation"]["floor"] == 0.35 and card["behaviour"]["contrast"]["floor"] is None
    assert "`¬` marks a word in a negation's scope" in markdown
