"""The prepared splits as every stage after prepare reads them: ids, raw texts and labels, in file order."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from pipeline.errors import PipelineError
from pipeline.files import read_jsonl


class Split(NamedTuple):
    """A prepared split in the columns models take: fit(split.texts, split.labels)."""

    ids: list[str]
    texts: list[str]
    labels: list[str]


def read_split(path: Path) -> Split:
    rows = read_jsonl(path)
    if not rows:
        raise PipelineError(f"{path} is empty")
    return Split([row["id"] for row in rows], [row["text"] for row in rows], [row["label"] for row in rows])
