from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.errors import PipelineError
from pipeline.files import read_jsonl, write_jsonl
from pipeline.stages.prepare import PrepareParams, prepare, split


def rows(positive: int, negative: int) -> list[dict]:
    return [{"id": f"p{i}", "text": f"good {i}", "label": "positive"} for i in range(positive)] + [
        {"id": f"n{i}", "text": f"bad {i}", "label": "negative"} for i in range(negative)
    ]


def test_split_is_stratified_and_deterministic() -> None:
    train, test = split(rows(10, 20), 0.2, seed=3)
    assert sum(r["label"] == "positive" for r in test) == 2 and sum(r["label"] == "negative" for r in test) == 4
    assert {r["id"] for r in train}.isdisjoint(r["id"] for r in test)
    assert split(rows(10, 20), 0.2, seed=3) == (train, test)
    assert split(rows(10, 20), 0.2, seed=4) != (train, test)


def test_split_follows_the_seed_protocol() -> None:
    """random.seed(0); shuffle(pos); shuffle(neg); the first 80 % of each train."""
    import random

    positive, negative = [f"p{i}" for i in range(10)], [f"n{i}" for i in range(10)]
    random.seed(0)
    random.shuffle(positive)
    random.shuffle(negative)
    train, test = split(rows(10, 10), 0.2, seed=0)
    assert [r["id"] for r in train] == positive[:8] + negative[:8]
    assert [r["id"] for r in test] == positive[8:] + negative[8:]


@pytest.mark.parametrize("fraction", [0, 1, 1.5])
def test_bad_fraction_is_named(fraction: float) -> None:
    with pytest.raises(PipelineError, match="test_fraction"):
        split(rows(10, 10), fraction, 0)


def test_a_label_too_small_to_split_is_named() -> None:
    with pytest.raises(PipelineError, match="1 'negative' documents cannot be split"):
        split(rows(10, 1), 0.2, 0)


def test_prepare_drops_empty_reviews(tmp_path: Path) -> None:
    data = rows(5, 5) + [{"id": "blank", "text": "  \n ", "label": "positive"}]
    write_jsonl(tmp_path / "raw" / "reviews.jsonl", data)
    summary = prepare(PrepareParams(test_fraction=0.2, seed=0), tmp_path / "raw", tmp_path / "prepared")
    assert summary["dropped_empty"] == 1
    assert summary["train"] == {"negative": 4, "positive": 4} and summary["test"] == {"negative": 1, "positive": 1}
    all_ids = [r["id"] for name in ("train", "test") for r in read_jsonl(tmp_path / "prepared" / f"{name}.jsonl")]
    assert "blank" not in all_ids and len(all_ids) == 10
