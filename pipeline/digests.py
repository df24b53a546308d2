"""Content digests of saved models: equal files, equal digest, wherever and whenever they were written."""

from __future__ import annotations

import hashlib
from pathlib import Path


def folder_digest(folder: Path, *extra: Path) -> str:
    """16 hex digits over every file under `folder` (names and bytes, in a stable order), then each `extra` file.

    package tags the BentoML model with it, so re-packaging the same champion reuses its tag; select tags each
    registered MLflow version with it, so the promotion gate knows a model it has seen before."""
    sha = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        sha.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes())
    for path in extra:
        sha.update(b"\0" + path.name.encode() + b"\0" + path.read_bytes())
    return sha.hexdigest()[:16]
