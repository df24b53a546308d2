"""Reading a prepared split: an empty one is refused, naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.corpus.splits import read_split
from pipeline.errors import PipelineError


def test_read_split_refuses_an_empty_file(tmp_path: Path) -> None:
    (tmp_path / "train.jsonl").write_text("")
    with pytest.raises(PipelineError, match="is empty"):
        read_split(tmp_path / "train.jsonl")
