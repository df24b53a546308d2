"""Fetch stage: a labelled corpus -> data/raw/reviews.jsonl + manifest.json. dvc.yaml: sentiment fetch data/raw"""

from __future__ import annotations

import csv
import io
import json
import logging
import urllib.request
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import nltk
from nltk.corpus.reader import CategorizedPlaintextCorpusReader, CategorizedSentencesCorpusReader

from pipeline.corpus import nltk_data
from pipeline.errors import PipelineError
from pipeline.files import sha256, staged, write_json, write_jsonl
from pipeline.labels import LABELS, normalize_label
from pipeline.params import Params
from pipeline.progress import logged

log = logging.getLogger(__name__)

NLTK_PREFIX = "nltk:"


class FetchParams(Params):
    # "nltk:movie_reviews", "nltk:sentence_polarity", or a .csv/.jsonl path or URL whose rows
    # have `text` and `label` (pos/neg, positive/negative or 1/0) and optionally `id`.
    source: str = "nltk:movie_reviews"


Row = dict[str, str]


def _nltk_rows(name: str) -> Iterator[Row]:
    """Documents in the corpus's own file order, which the seed's split depends on."""
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


def _read_source(source: str) -> bytes:
    parsed = urlparse(source)
    try:
        if parsed.scheme in ("http", "https", "file"):
            with urllib.request.urlopen(source, timeout=60) as response:
                return response.read()
        return Path(source).read_bytes()
    except OSError as error:
        raise PipelineError(f"cannot read {source}: {error}") from None


def _file_rows(source: str) -> Iterator[Row]:
    suffix = Path(urlparse(source).path).suffix.lower()
    if suffix not in (".csv", ".jsonl"):
        raise PipelineError(f"source {source!r}: expected nltk:<corpus>, a .csv or a .jsonl file")
    try:
        text = _read_source(source).decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise PipelineError(f"{source} is not UTF-8 ({error})") from None
    if suffix == ".csv":
        reader = csv.DictReader(io.StringIO(text, newline=""))
        columns = reader.fieldnames or []
        missing = [column for column in ("text", "label") if column not in columns]
        if missing:
            raise PipelineError(f"{source} has no {' or '.join(repr(m) for m in missing)} column (columns: {columns})")
        records: Iterator[tuple[int, dict]] = enumerate(reader, start=1)
    else:
        records = _jsonl_records(source, text)
    for number, record in records:
        if record.get("text") is None or record.get("label") is None:
            raise PipelineError(f"{source} row {number}: needs both 'text' and 'label'")
        yield {
            "id": str(record.get("id") or f"row{number}"),
            "text": str(record["text"]),
            "label": str(record["label"]),
        }


def _jsonl_records(source: str, text: str) -> Iterator[tuple[int, dict]]:
    """(line number, object) pairs; blank lines are skipped but still counted, so ids match lines."""
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise PipelineError(f"{source} line {number} is not JSON ({error})") from None
        if not isinstance(record, dict):
            raise PipelineError(f"{source} line {number}: expected an object with 'text' and 'label'")
        yield number, record


def rows(source: str) -> Iterator[Row]:
    if source.startswith(NLTK_PREFIX):
        yield from _nltk_rows(source.removeprefix(NLTK_PREFIX))
    else:
        yield from _file_rows(source)


def fetch(p: FetchParams, out: Path) -> dict:
    """Write every document with its label normalized; refuse corpora a classifier cannot learn from."""
    counts: Counter[str] = Counter()

    def normalized() -> Iterator[Row]:
        for row in rows(p.source):
            row["label"] = normalize_label(row["label"])
            counts[row["label"]] += 1
            yield row

    with staged(out) as folder:
        try:
            documents = write_jsonl(folder / "reviews.jsonl", normalized())
        except (zipfile.BadZipFile, zlib.error, EOFError, UnicodeDecodeError) as error:
            raise PipelineError(f"corpus {p.source} is corrupt ({type(error).__name__}: {error})") from None
        if documents == 0:
            raise PipelineError(f"corpus {p.source} is empty")
        missing = [label for label in LABELS if not counts[label]]
        if missing:
            raise PipelineError(f"corpus {p.source} has no {', '.join(missing)} documents; both labels are needed")
        manifest = {
            "source": p.source,
            "documents": documents,
            "per_label": dict(sorted(counts.items())),
            "sha256": sha256(folder / "reviews.jsonl"),
            "nltk_version": nltk.__version__,
        }
        write_json(folder / "manifest.json", manifest)
    log.info("fetched %d documents from %s: %s", documents, p.source, dict(counts))
    return manifest
