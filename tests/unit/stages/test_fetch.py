from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from pipeline.errors import PipelineError
from pipeline.files import read_jsonl, sha256
from pipeline.stages.fetch import FetchParams, fetch
from tests.conftest import REVIEWS_PER_LABEL, use_nltk_data


def test_fetch_reads_movie_reviews_through_nltk(nltk_home: Path, tmp_path: Path) -> None:
    manifest = fetch(FetchParams(source="nltk:movie_reviews"), tmp_path / "raw")
    rows = read_jsonl(tmp_path / "raw" / "reviews.jsonl")
    assert manifest["per_label"] == {"negative": REVIEWS_PER_LABEL, "positive": REVIEWS_PER_LABEL}
    assert manifest["sha256"] == sha256(tmp_path / "raw" / "reviews.jsonl")
    assert json.loads((tmp_path / "raw" / "manifest.json").read_text()) == manifest
    assert rows[0]["id"].startswith("neg/cv000_") and rows[0]["label"] == "negative"
    assert rows[0]["text"] == (nltk_home / "corpora" / "movie_reviews" / rows[0]["id"]).read_text()


def test_fetch_reads_the_zipped_layout_nltk_ships(tiny_nltk_data: Path, tmp_path: Path, monkeypatch) -> None:
    root = tmp_path / "zipped"
    (root / "corpora").mkdir(parents=True)
    with zipfile.ZipFile(root / "corpora" / "movie_reviews.zip", "w") as archive:
        for path in sorted((tiny_nltk_data / "corpora" / "movie_reviews").rglob("*.txt")):
            archive.write(path, f"movie_reviews/{path.relative_to(tiny_nltk_data / 'corpora' / 'movie_reviews')}")
    use_nltk_data(monkeypatch, root)
    manifest = fetch(FetchParams(), tmp_path / "raw")
    assert manifest["documents"] == 2 * REVIEWS_PER_LABEL


def test_corrupt_nltk_zip_is_named_and_leaves_nothing(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "bad" / "corpora").mkdir(parents=True)
    (tmp_path / "bad" / "corpora" / "movie_reviews.zip").write_bytes(b"PK\x03\x04 this is not a zip")
    use_nltk_data(monkeypatch, tmp_path / "bad")
    with pytest.raises(PipelineError, match="movie_reviews.*unreadable|corrupt"):
        fetch(FetchParams(), tmp_path / "raw")
    assert not (tmp_path / "raw").exists()
    assert not list(tmp_path.glob(".raw*"))


def test_missing_corpus_names_the_remedies(tmp_path: Path, monkeypatch) -> None:
    use_nltk_data(monkeypatch, tmp_path / "empty")
    with pytest.raises(PipelineError, match="NLTK_DATA.*nltk.downloader movie_reviews"):
        fetch(FetchParams(), tmp_path / "raw")


def test_fetch_reads_a_users_csv(tmp_path: Path) -> None:
    source = tmp_path / "mine.csv"
    source.write_text('text,label\n"Loved it, truly",pos\nHated it,neg\n"Multi\nline",1\n')
    manifest = fetch(FetchParams(source=str(source)), tmp_path / "raw")
    rows = read_jsonl(tmp_path / "raw" / "reviews.jsonl")
    assert manifest["per_label"] == {"negative": 1, "positive": 2}
    assert rows[2] == {"id": "row3", "text": "Multi\nline", "label": "positive"}


def test_fetch_reads_jsonl_from_a_file_url(tmp_path: Path) -> None:
    source = tmp_path / "mine.jsonl"
    source.write_text('{"id": "a", "text": "great", "label": "positive"}\n\n{"text": "bad", "label": "negative"}\n')
    fetch(FetchParams(source=source.as_uri()), tmp_path / "raw")
    assert [row["id"] for row in read_jsonl(tmp_path / "raw" / "reviews.jsonl")] == ["a", "row3"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("review,label\ngood,pos\n", "no 'text' column"),
        ("text,label\n", "is empty"),
        ("text,label\ngood,pos\nfine,pos\n", "no negative documents"),
        ("text,label\ngood,meh\n", "unknown label 'meh'"),
    ],
)
def test_bad_csv_is_refused_and_leaves_no_output(tmp_path: Path, content: str, message: str) -> None:
    source = tmp_path / "mine.csv"
    source.write_text(content)
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "reviews.jsonl").write_text("previous good output\n")
    with pytest.raises(PipelineError, match=message):
        fetch(FetchParams(source=str(source)), tmp_path / "raw")
    assert (tmp_path / "raw" / "reviews.jsonl").read_text() == "previous good output\n"
    assert not list(tmp_path.glob(".raw*"))


def test_unknown_source_kind(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="expected nltk:<corpus>"):
        fetch(FetchParams(source=str(tmp_path / "data.parquet")), tmp_path / "raw")
    with pytest.raises(PipelineError, match="unknown NLTK corpus 'brown_reviews'"):
        fetch(FetchParams(source="nltk:brown_reviews"), tmp_path / "raw")
