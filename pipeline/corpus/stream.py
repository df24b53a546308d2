"""A labelled corpus read in chunks of rows, so training at scale holds one chunk of texts, never the corpus.

A corpus is one JSONL file or a folder of them (read in name order), one {"text": ..., "label": ...} object a line,
as prepare writes its splits and pipeline.corpus.synthetic writes benchmark corpora. Every row is checked as it is
read: a bad one stops the read with one line naming its file and row, before anything is written.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

from pipeline.errors import PipelineError
from pipeline.labels import LABELS


@dataclasses.dataclass(frozen=True)
class Chunk:
    """Consecutive rows of the corpus: `first` is the corpus-wide number of the first (0-based)."""

    first: int
    texts: list[str]
    labels: list[str]
    bytes_read: int  # of the whole corpus so far, for progress


def corpus_files(path: Path) -> list[Path]:
    """The JSONL files `path` names: itself, or a folder's *.jsonl in name order."""
    files = sorted(path.glob("*.jsonl")) if path.is_dir() else [path] if path.is_file() else []
    if not files:
        raise PipelineError(f"{path}: no JSONL corpus there (a .jsonl file, or a folder of them)")
    return files


def corpus_bytes(path: Path) -> int:
    return sum(file.stat().st_size for file in corpus_files(path))


def labelled_row(line: str, file: Path, number: int) -> tuple[str, str]:
    """One line's (text, label), or a PipelineError naming the file and the line's row number (1-based)."""
    where = f"{file}: row {number:,}"
    try:
        row = json.loads(line)
    except json.JSONDecodeError as error:
        raise PipelineError(f"{where} is not JSON ({error.msg})") from None
    if not isinstance(row, dict) or not isinstance(row.get("text"), str) or "label" not in row:
        raise PipelineError(f'{where} is not an object with a "text" string and a "label"')
    if row["label"] not in LABELS:
        raise PipelineError(f"{where}: label {row['label']!r} is not one of {', '.join(LABELS)}")
    if not row["text"].strip():
        raise PipelineError(f"{where}: the text is empty")
    return row["text"], row["label"]


def chunks(path: Path, rows_per_chunk: int) -> Iterator[Chunk]:
    """The corpus's rows, rows_per_chunk at a time; blank lines are skipped. Raises on a bad row, and at the end
    on an empty corpus or one whose rows all carry one label (nothing can be learnt from it)."""
    texts: list[str] = []
    labels: list[str] = []
    first = done = 0
    per_label: dict[str, int] = dict.fromkeys(LABELS, 0)
    for file in corpus_files(path):
        with file.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                done += len(raw)
                if not raw.strip():
                    continue
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError:
                    raise PipelineError(f"{file}: row {number:,} is not UTF-8") from None
                text, label = labelled_row(line, file, number)
                texts.append(text)
                labels.append(label)
                per_label[label] += 1
                if len(texts) == rows_per_chunk:
                    yield Chunk(first, texts, labels, done)
                    first, texts, labels = first + len(texts), [], []
    if texts:
        yield Chunk(first, texts, labels, done)
    rows = sum(per_label.values())
    if rows == 0:
        raise PipelineError(f"{path}: no rows")
    if min(per_label.values()) == 0:
        (only,) = (label for label, count in per_label.items() if count)
        raise PipelineError(f"{path}: all {rows:,} rows are {only}; a classifier needs both {' and '.join(LABELS)}")
