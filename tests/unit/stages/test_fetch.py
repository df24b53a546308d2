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
    assert rows[2] == {"id": "row3", "text": "Multi\nline", "label": "positive", "source": str(source)}
    assert manifest["files"] == [{"path": str(source), "bytes": source.stat().st_size, "sha256": sha256(source)}]
    assert manifest["rows_read"] == 3 and manifest["dropped"] == {}


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
        (
            "text,label\ngood,meh\nbad,neg\nfine,meh\n",
            r"mine.csv: 2 rows have a label outside the usual spellings: 'meh' \(2\)",
        ),
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
    (tmp_path / "data.xlsx").write_bytes(b"PK")
    with pytest.raises(PipelineError, match="expected nltk:<corpus>, or a .csv, .tsv, .jsonl or .parquet file"):
        fetch(FetchParams(source=str(tmp_path / "data.xlsx")), tmp_path / "raw")
    with pytest.raises(PipelineError, match="unknown NLTK corpus 'brown_reviews'"):
        fetch(FetchParams(source="nltk:brown_reviews"), tmp_path / "raw")


def imdb_csv(path: Path) -> Path:
    """The shape of the most common public movie-review CSV: `review` and `sentiment` columns."""
    path.write_text(
        "review,sentiment\n"
        '"One of the best films, truly moving.",positive\n'
        "Dull and far too long.,negative\n"
        ",positive\n"
        "A mess from start to end.,negative\n"
    )
    return path


def test_imdb_shaped_csv_with_named_columns(tmp_path: Path) -> None:
    source = imdb_csv(tmp_path / "imdb.csv")
    p = FetchParams(source=str(source), text_column="review", label_column="sentiment")
    manifest = fetch(p, tmp_path / "raw")
    rows = read_jsonl(tmp_path / "raw" / "reviews.jsonl")
    assert [row["label"] for row in rows] == ["positive", "negative", "positive", "negative"]
    assert rows[2]["text"] == ""  # prepare drops and counts empty texts
    assert manifest["rows_read"] == 4 and manifest["documents"] == 4


def test_a_missing_column_names_the_params_to_set(tmp_path: Path) -> None:
    source = imdb_csv(tmp_path / "imdb.csv")
    with pytest.raises(PipelineError, match=r"no 'text', 'label' column \(columns: \['review', 'sentiment'\]\); set"):
        fetch(FetchParams(source=str(source)), tmp_path / "raw")


def test_label_map_with_yaml_int_keys_and_a_dropped_label(tmp_path: Path) -> None:
    source = tmp_path / "reviews.tsv"
    source.write_text("body\tstars\tmovie\ngreat\t1\tm1\nawful\t0\tm2\nmeh\t2\tm2\nfine\t1\t\n")
    p = FetchParams.model_validate(
        {
            "source": str(source),
            "text_column": "body",
            "label_column": "stars",
            "label_map": {1: "positive", 0: "negative", 2: None},
            "group_column": "movie",
        }
    )
    manifest = fetch(p, tmp_path / "raw")
    rows = read_jsonl(tmp_path / "raw" / "reviews.jsonl")
    assert [(row["text"], row["label"], row["group"]) for row in rows] == [
        ("great", "positive", "m1"),
        ("awful", "negative", "m2"),
        ("fine", "positive", None),
    ]
    assert manifest["dropped"] == {"label_map_null": 1} and manifest["rows_read"] == 4


def test_parquet_star_ratings_from_a_folder(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "sources"
    folder.mkdir()
    pq.write_table(pa.table({"text": ["loved it", "hated it"], "rating": [9, 2]}), folder / "a.parquet")
    pq.write_table(pa.table({"text": ["so-so", "superb"], "rating": [5.0, 10.0]}), folder / "b.parquet")
    p = FetchParams.model_validate(
        {"source": str(folder), "label_column": "rating", "ratings": {"negative_at_most": 4, "positive_at_least": 7}}
    )
    manifest = fetch(p, tmp_path / "raw")
    rows = read_jsonl(tmp_path / "raw" / "reviews.jsonl")
    assert [(row["id"], row["label"]) for row in rows] == [
        ("a.parquet:row1", "positive"),
        ("a.parquet:row2", "negative"),
        ("b.parquet:row2", "positive"),
    ]
    assert {row["source"] for row in rows} == {str(folder / "a.parquet"), str(folder / "b.parquet")}
    assert manifest["dropped"] == {"neutral_rating": 1} and len(manifest["files"]) == 2


def test_label_map_and_ratings_together_are_refused() -> None:
    with pytest.raises(ValueError, match="give label_map or ratings, not both"):
        FetchParams.model_validate(
            {"label_map": {"a": "positive"}, "ratings": {"negative_at_most": 1, "positive_at_least": 2}}
        )


def test_a_local_file_outside_the_tracked_folder_is_named(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    source = imdb_csv(tmp_path / "imdb.csv")
    p = FetchParams(source=str(source), text_column="review", label_column="sentiment")
    fetch(p, tmp_path / "raw", tracked=tmp_path / "sources")
    assert "imdb.csv is outside" in caplog.text and "DVC does not see it change" in caplog.text
    fetch(p.model_copy(update={"source": source.as_uri()}), tmp_path / "raw", tracked=tmp_path / "sources")
    assert f"DVC does not see {source.as_uri()} change: `dvc import-url` it" in caplog.text


def test_an_s3_source_on_moto(tmp_path: Path, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3

    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="reviews")
    s3.put_object(Bucket="reviews", Key="2026/imdb.csv", Body=imdb_csv(tmp_path / "imdb.csv").read_bytes())
    s3.put_object(Bucket="reviews", Key="2026/more.jsonl", Body=b'{"review": "superb", "sentiment": "pos"}\n')
    p = FetchParams(source="s3://reviews/2026/", text_column="review", label_column="sentiment")
    manifest = fetch(p, tmp_path / "raw")
    assert [file["path"] for file in manifest["files"]] == [
        "s3://reviews/2026/imdb.csv",
        "s3://reviews/2026/more.jsonl",
    ]
    assert manifest["per_label"] == {"negative": 2, "positive": 3}
    with pytest.raises(PipelineError, match="cannot read s3://reviews/missing.csv"):
        fetch(p.model_copy(update={"source": "s3://reviews/missing.csv"}), tmp_path / "raw")
