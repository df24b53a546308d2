"""Fetch stage: labelled texts -> data/raw/reviews.jsonl, manifest.json. dvc.yaml: sentiment fetch data/sources data/raw

A corpus is one of NLTK's, or users' files: CSV, TSV, JSONL or Parquet, one file or a folder of them, on disk, at an
http(s):// URL or under s3://. Each document keeps its `source` (the file it came from), so a later change can mix
corpora and still tell them apart.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import math
import urllib.request
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal
from urllib.parse import urlparse

from pydantic import field_validator, model_validator

from pipeline.errors import PipelineError
from pipeline.files import sha256, staged, write_json, write_jsonl
from pipeline.labels import LABEL_ALIASES, LABELS, Label, normalize_label
from pipeline.names import DEFAULT_SOURCE
from pipeline.params import Params
from pipeline.progress import logged

log = logging.getLogger(__name__)

NLTK_PREFIX = "nltk:"
Format = Literal["csv", "tsv", "jsonl", "parquet"]
SUFFIXES: dict[str, Format] = {
    ".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".parquet": "parquet",
}  # fmt: skip
REMOTE = ("http", "https", "file", "s3")


class Ratings(Params):
    """Numeric labels such as star ratings: at most `negative_at_most` is negative, at least `positive_at_least`
    positive, and anything between is dropped as neither (IMDB's convention is 4 and 7 of 10)."""

    negative_at_most: float
    positive_at_least: float

    @model_validator(mode="after")
    def _ordered(self) -> Ratings:
        if self.negative_at_most >= self.positive_at_least:
            raise ValueError("negative_at_most must be below positive_at_least")
        return self


class FetchParams(Params):
    # nltk:movie_reviews, nltk:sentence_polarity, or users' data: a file or folder (under data/sources, which DVC
    # tracks by content), an http(s):// URL or s3://bucket/key (a prefix ending in / reads every file under it).
    source: str = DEFAULT_SOURCE
    format: Literal["auto", "csv", "tsv", "jsonl", "parquet"] = "auto"  # auto: from each file's name
    text_column: str = "text"
    label_column: str = "label"
    # A raw label (as text) -> negative or positive, or null to drop its rows; empty: the usual spellings
    # (pipeline/labels.py: pos/neg, positive/negative, 1/0). A label that is neither is an error, never a guess.
    label_map: dict[str, Label | None] = {}
    ratings: Ratings | None = None  # numeric labels cut at two thresholds instead of label_map
    id_column: str | None = None  # null: the file's `id` column when it has one, else the row's number in its file
    group_column: str | None = None  # e.g. a movie id: prepare keeps each group on one side of the split

    @field_validator("label_map", mode="before")
    @classmethod
    def _keys_as_text(cls, value: Any) -> Any:
        """YAML reads `{1: positive}` with an int key; a label is matched as text, so 1 and "1" mean the same."""
        return {_as_text(key): label for key, label in value.items()} if isinstance(value, dict) else value

    @model_validator(mode="after")
    def _one_way_to_map(self) -> FetchParams:
        if self.label_map and self.ratings is not None:
            raise ValueError("give label_map or ratings, not both")
        return self


@dataclass(frozen=True)
class SourceFile:
    """One file of the source: where it is, its format, its bytes' size and digest (the manifest's record)."""

    location: str
    format: Format
    content: bytes


def _as_text(value: Any) -> str:
    """A label as text: Parquet's 1.0 is "1", as a CSV's 1 is."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _nltk_rows(name: str) -> Iterator[dict[str, Any]]:
    """Documents in the corpus's own file order, which the seed's split depends on."""
    from nltk.corpus.reader import CategorizedPlaintextCorpusReader, CategorizedSentencesCorpusReader

    from pipeline.corpus import nltk_data

    reader = nltk_data.corpus(name)
    if name == "movie_reviews":
        assert isinstance(reader, CategorizedPlaintextCorpusReader)  # nltk_data.CORPORA says so
        fileids = reader.fileids()
        for fileid in logged(fileids, len(fileids), "documents read", log):
            # raw() is the text words() was tokenized from, so the model sees what users send.
            yield {"id": fileid, "text": str(reader.raw(fileid)), "label": reader.categories(fileid)[0]}
    elif name == "sentence_polarity":
        assert isinstance(reader, CategorizedSentencesCorpusReader)
        for fileid in reader.fileids():
            label = reader.categories(fileid)[0]
            for number, sentence in enumerate(reader.sents(fileid)):
                yield {"id": f"{fileid}:{number}", "text": " ".join(map(str, sentence)), "label": label}
    else:
        raise PipelineError(
            f"NLTK corpus '{name}' is not a labelled review corpus; use movie_reviews or sentence_polarity"
        )


def _format(location: str, given: str) -> Format:
    if given != "auto":
        return given  # type: ignore[return-value]  # the Literal minus "auto"
    suffix = PurePosixPath(urlparse(location).path if "://" in location else location).suffix.lower()
    if suffix not in SUFFIXES:
        raise PipelineError(
            f"source {location!r}: expected nltk:<corpus>, or a .csv, .tsv, .jsonl or .parquet file "
            "(or set fetch.format)"
        )
    return SUFFIXES[suffix]


def _s3_files(url: str) -> Iterator[tuple[str, bytes]]:
    """One object, or every object under a prefix ending in "/"; credentials and endpoint from the AWS chain."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    parsed = urlparse(url)
    bucket, key = parsed.netloc, parsed.path.lstrip("/")
    client = boto3.client("s3")
    try:
        if key and not key.endswith("/"):
            yield url, client.get_object(Bucket=bucket, Key=key)["Body"].read()
            return
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key)
        keys = sorted(item["Key"] for page in pages for item in page.get("Contents", []))
        for name in keys:
            if PurePosixPath(name).suffix.lower() in SUFFIXES:
                yield f"s3://{bucket}/{name}", client.get_object(Bucket=bucket, Key=name)["Body"].read()
    except (BotoCoreError, ClientError) as error:
        raise PipelineError(f"cannot read {url}: {error}") from None


def source_files(source: str, given_format: str) -> Iterator[SourceFile]:
    """The source's files in a stable order (a folder's sorted by path), each read whole."""
    scheme = urlparse(source).scheme
    try:
        if scheme == "s3":
            for location, content in _s3_files(source):
                yield SourceFile(location, _format(location, given_format), content)
            return
        if scheme in REMOTE:
            _format(source, given_format)  # refuse an unknown kind before downloading it
            with urllib.request.urlopen(source, timeout=60) as response:
                yield SourceFile(source, _format(source, given_format), response.read())
            return
        path = Path(source)
        if path.is_dir():
            paths = sorted(
                p
                for p in path.rglob("*")
                if p.is_file() and p.suffix.lower() in SUFFIXES and not p.relative_to(path).as_posix().startswith(".")
            )
            if not paths:
                raise PipelineError(f"folder {source} holds no .csv, .tsv, .jsonl or .parquet file")
        else:
            _format(source, given_format)
            paths = [path]
        for file in paths:
            yield SourceFile(str(file), _format(str(file), given_format), file.read_bytes())
    except OSError as error:
        raise PipelineError(f"cannot read {source}: {error}") from None


def _records(file: SourceFile) -> tuple[list[str], Iterator[tuple[int, Mapping[str, Any]]]]:
    """(columns, (row number, record) pairs); row numbers count from 1 as a user counts lines of data."""
    if file.format == "parquet":
        import pyarrow.parquet as pq
        from pyarrow import ArrowException

        try:
            table = pq.read_table(io.BytesIO(file.content))
        except ArrowException as error:
            raise PipelineError(f"{file.location} is not a Parquet file ({error})") from None
        return table.column_names, enumerate(table.to_pylist(), start=1)
    try:
        text = file.content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise PipelineError(f"{file.location} is not UTF-8 ({error})") from None
    if file.format == "jsonl":
        records = list(_jsonl_records(file.location, text))
        columns = sorted({key for _, record in records for key in record})
        return columns, iter(records)
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter="\t" if file.format == "tsv" else ",")
    return list(reader.fieldnames or []), enumerate(reader, start=1)


def _jsonl_records(location: str, text: str) -> Iterator[tuple[int, dict]]:
    """(line number, object) pairs; blank lines are skipped but still counted, so ids match lines."""
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise PipelineError(f"{location} line {number} is not JSON ({error})") from None
        if not isinstance(record, dict):
            raise PipelineError(f"{location} line {number}: expected an object")
        yield number, record


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or (isinstance(value, str) and not value)


class Labeller:
    """Raw labels -> negative/positive, or None to drop the row under a reason; unknown labels are counted."""

    def __init__(self, p: FetchParams) -> None:
        self.p = p
        self.unknown: Counter[str] = Counter()

    def __call__(self, raw: Any) -> tuple[str | None, str]:
        if _missing(raw):
            return None, "missing_label"
        if self.p.ratings is not None:
            try:
                rating = float(raw)
            except (TypeError, ValueError):
                self.unknown[_as_text(raw)] += 1
                return None, "unknown_label"
            if rating <= self.p.ratings.negative_at_most:
                return "negative", ""
            if rating >= self.p.ratings.positive_at_least:
                return "positive", ""
            return None, "neutral_rating"
        key = _as_text(raw)
        if self.p.label_map:
            if key not in self.p.label_map:
                self.unknown[key] += 1
                return None, "unknown_label"
            label = self.p.label_map[key]
            return (label, "") if label else (None, "label_map_null")
        if key.lower() not in LABEL_ALIASES:
            self.unknown[key] += 1
            return None, "unknown_label"
        return LABEL_ALIASES[key.lower()], ""


def _file_rows(
    file: SourceFile, p: FetchParams, labeller: Labeller, dropped: Counter[str], many: bool
) -> Iterator[dict[str, Any]]:
    columns, records = _records(file)
    wanted = [p.text_column, p.label_column, *(c for c in (p.id_column, p.group_column) if c)]
    missing = [column for column in wanted if column not in columns]
    if missing and columns:
        names = ", ".join(repr(m) for m in missing)
        raise PipelineError(
            f"{file.location} has no {names} column (columns: {columns}); set fetch.text_column, fetch.label_column"
        )
    prefix = f"{PurePosixPath(file.location).name}:" if many else ""
    id_column = p.id_column or ("id" if "id" in columns else None)
    for number, record in records:
        text, (label, reason) = record.get(p.text_column), labeller(record.get(p.label_column))
        if text is None:
            reason = "missing_text"
        if reason:
            dropped[reason] += 1
            continue
        row = {
            "id": prefix + (_as_text(record[id_column]) if id_column and record.get(id_column) else f"row{number}"),
            "text": str(text),
            "label": label,
            "source": file.location,
        }
        if p.group_column:
            group = record.get(p.group_column)
            row["group"] = None if _missing(group) else _as_text(group)
        yield row


def fetch(p: FetchParams, out: Path, tracked: Path | None = None) -> dict[str, Any]:
    """Write every usable document with its label mapped; refuse data a classifier cannot learn from.

    `tracked` is the folder dvc.yaml lists as fetch's dependency: a local source outside it is read, but DVC
    cannot see it change, which the log says.
    """
    counts: Counter[str] = Counter()
    dropped: Counter[str] = Counter()
    files: list[dict[str, Any]] = []
    labeller = Labeller(p)

    def documents() -> Iterator[dict[str, Any]]:
        if p.source.startswith(NLTK_PREFIX):
            for row in _nltk_rows(p.source.removeprefix(NLTK_PREFIX)):
                row["label"] = normalize_label(row["label"])
                row["source"] = p.source
                counts[row["label"]] += 1
                yield row
            return
        sources = list(source_files(p.source, p.format))
        for file in sources:
            files.append({"path": file.location, "bytes": len(file.content), "sha256": _digest(file.content)})
            for row in _file_rows(file, p, labeller, dropped, many=len(sources) > 1):
                counts[row["label"]] += 1
                yield row

    _warn_untracked(p.source, tracked)
    with staged(out) as folder:
        try:
            kept = write_jsonl(folder / "reviews.jsonl", documents())
        except (zipfile.BadZipFile, zlib.error, EOFError, UnicodeDecodeError) as error:
            raise PipelineError(f"corpus {p.source} is corrupt ({type(error).__name__}: {error})") from None
        if labeller.unknown:
            shown = ", ".join(f"{label!r} ({n})" for label, n in labeller.unknown.most_common(5))
            where = "fetch.ratings" if p.ratings else "fetch.label_map" if p.label_map else "the usual spellings"
            raise PipelineError(
                f"{p.source}: {sum(labeller.unknown.values())} rows have a label outside {where}: {shown}"
            )
        if kept == 0:
            raise PipelineError(f"corpus {p.source} is empty ({_worded(dropped) or 'no rows'})")
        missing = [label for label in LABELS if not counts[label]]
        if missing:
            raise PipelineError(
                f"corpus {p.source} has no {', '.join(missing)} documents of {kept}; both labels are needed"
            )
        manifest: dict[str, Any] = {
            "source": p.source,
            "files": files,
            "rows_read": kept + sum(dropped.values()),
            "documents": kept,
            "dropped": dict(sorted(dropped.items())),
            "per_label": dict(sorted(counts.items())),
            "sha256": sha256(folder / "reviews.jsonl"),
        }
        if p.source.startswith(NLTK_PREFIX):
            import nltk

            manifest["nltk_version"] = nltk.__version__
        write_json(folder / "manifest.json", manifest)
    if dropped:
        log.warning("dropped %s of %d rows from %s", _worded(dropped), manifest["rows_read"], p.source)
    log.info("fetched %d documents from %s: %s", kept, p.source, dict(counts))
    return manifest


def _digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def _worded(dropped: Mapping[str, int]) -> str:
    return ", ".join(f"{n} {reason.replace('_', ' ')}" for reason, n in sorted(dropped.items()))


def _warn_untracked(source: str, tracked: Path | None) -> None:
    """A URL, or a local file outside the tracked folder, can change without DVC knowing: say so, and what to do."""
    if tracked is None or source.startswith(NLTK_PREFIX):
        return
    if urlparse(source).scheme in REMOTE:
        log.warning("DVC does not see %s change: `dvc import-url` it into %s and name the copy", source, tracked)
    elif not Path(source).resolve().is_relative_to(tracked.resolve()):
        log.warning("%s is outside %s, so DVC does not see it change: move it there (`dvc add` it)", source, tracked)
