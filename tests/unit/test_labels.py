"""The label set, its accepted spellings, and the one top-label rule."""

from __future__ import annotations

import pytest

from pipeline.errors import PipelineError
from pipeline.labels import LABELS, check_training_labels, normalize_label, top_label


def test_label_aliases() -> None:
    assert [normalize_label(x) for x in ("pos", "NEG", 1, "0", "positive")] == [
        "positive",
        "negative",
        "positive",
        "negative",
        "positive",
    ]
    with pytest.raises(PipelineError, match="unknown label 'meh'"):
        normalize_label("meh")


def test_training_labels_must_be_both_known_labels() -> None:
    check_training_labels(["negative", "positive", "positive"])
    with pytest.raises(PipelineError, match=r"training labels \['pos'\] are not in"):
        check_training_labels(["pos", "negative"])
    with pytest.raises(PipelineError, match="needs both"):
        check_training_labels(["positive", "positive"])


def test_top_label_is_the_most_probable_and_a_tie_goes_to_the_first_label() -> None:
    assert top_label({"negative": 0.3, "positive": 0.7}) == "positive"
    assert top_label({"negative": 0.7, "positive": 0.3}) == "negative"
    assert top_label({"positive": 0.5, "negative": 0.5}) == LABELS[0] == "negative"  # key order does not matter
