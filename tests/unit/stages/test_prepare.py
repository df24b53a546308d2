from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.errors import PipelineError
from pipeline.files import read_jsonl, write_jsonl
from pipeline.labels import LABELS
from pipeline.stages.prepare import PrepareParams, normalized, prepare, split, without_leaks


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


def test_a_planted_duplicate_leaves_the_test_split_and_is_counted(tmp_path: Path) -> None:
    data = rows(10, 10)
    train, test = split(data, 0.2, seed=0)
    # Copies of two training texts: one exact, one with other case, spacing and punctuation. Appended last, in
    # corpus order they land where the seed's shuffle puts them; with_leaks checks whichever lands in test.
    planted = [
        {"id": "copy", "text": train[0]["text"], "label": train[0]["label"]},
        {"id": "near", "text": f"  {train[1]['text'].upper()} !! ", "label": train[1]["label"]},
    ]
    kept, counts = without_leaks(train, test + planted)
    assert kept == test and counts == {"exact": 1, "near_exact": 1}
    write_jsonl(tmp_path / "raw" / "reviews.jsonl", data + planted)
    summary = prepare(PrepareParams(), tmp_path / "raw", tmp_path / "prepared", tmp_path / "data.json")
    test_texts = {normalized(r["text"]) for r in read_jsonl(tmp_path / "prepared" / "test.jsonl")}
    train_texts = {normalized(r["text"]) for r in read_jsonl(tmp_path / "prepared" / "train.jsonl")}
    assert not test_texts & train_texts
    report = json.loads((tmp_path / "data.json").read_text())
    assert summary["dropped_test_duplicates"] == sum(report["dropped"]["test_duplicates"].values())


def test_normalized_ignores_case_punctuation_and_spacing() -> None:
    assert normalized("A  GREAT film!!\n") == normalized("a great film") == "a great film"
    assert normalized("great film") != normalized("great films")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (rows(10, 0), r"reviews.jsonl: only \{'positive': 10\}; a classifier needs both negative and positive"),
        (rows(10, 3), r"reviews.jsonl: 3 negative documents, under prepare.min_documents_per_label 5"),
        (rows(5, 5) + [{"id": "x", "text": "meh", "label": "neutral"}], r"reviews.jsonl: labels \['neutral'\]"),
    ],
)
def test_bad_data_is_one_line_naming_the_file_and_count(tmp_path: Path, data: list[dict], message: str) -> None:
    write_jsonl(tmp_path / "raw" / "reviews.jsonl", data)
    (tmp_path / "prepared").mkdir()
    (tmp_path / "prepared" / "train.jsonl").write_text("previous\n")
    with pytest.raises(PipelineError, match=message) as raised:
        prepare(PrepareParams(min_documents_per_label=5), tmp_path / "raw", tmp_path / "prepared", tmp_path / "r.json")
    assert "\n" not in str(raised.value)
    assert (tmp_path / "prepared" / "train.jsonl").read_text() == "previous\n" and not (tmp_path / "r.json").exists()
    assert not list(tmp_path.glob(".*.partial"))


def test_groups_stay_on_one_side_of_the_split(tmp_path: Path) -> None:
    data = [
        {"id": f"{movie}-{n}", "text": f"review {movie} {n}", "label": LABELS[(movie + n) % 2], "group": f"m{movie}"}
        for movie in range(10)
        for n in range(4)
    ]
    write_jsonl(tmp_path / "raw" / "reviews.jsonl", data)
    summary = prepare(
        PrepareParams(), tmp_path / "raw", tmp_path / "prepared", tmp_path / "data.json", tmp_path / "lengths.png"
    )
    groups = {
        name: {row["group"] for row in read_jsonl(tmp_path / "prepared" / f"{name}.jsonl")}
        for name in ("train", "test")
    }
    assert summary["grouped"] and groups["train"].isdisjoint(groups["test"]) and len(groups["test"]) == 2
    assert (tmp_path / "lengths.png").read_bytes()[:4] == b"\x89PNG"
    report = json.loads((tmp_path / "data.json").read_text())
    assert report["documents"] == 40 and report["words"]["positive"]["p50"] == 3
