"""Reading and writing stage outputs so that a failed stage leaves nothing half-written."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


# The name of an output being written; .dvcignore and .gitignore list this pattern (tests/unit/test_files.py).
PARTIAL = ".*.partial"


def partial_path(path: Path) -> Path:
    return path.with_name(PARTIAL.replace("*", path.name))


@contextmanager
def staged(path: Path) -> Iterator[Path]:
    """Yield a temporary sibling of `path` to write into; move it into place only on success.

    DVC caches whatever a stage leaves at its `outs`, so a stage that dies halfway must leave
    nothing there: the old output (if any) stays until the new one is complete. A process killed
    outright (kill -9, out of memory) leaves the sibling behind: DVC and git ignore its name, so
    no hash or commit takes it in, and the next run that writes `path` removes it first.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = partial_path(path)
    _remove(temporary)
    try:
        yield temporary
    except BaseException:
        _remove(temporary)
        raise
    _remove(path)
    os.replace(temporary, path)


def write_json(path: Path, data: Any, *, compact: bool = False) -> None:
    """Sorted keys so equal content gives equal bytes (DVC hashes); `compact` for bulky weights."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if compact:
        text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    else:
        text = json.dumps(data, sort_keys=True, indent=2)
    path.write_text(text + "\n", encoding="utf-8")


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write one JSON object per line (reviews contain newlines and tabs, so not TSV)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
