"""The package's own import graph, read from the source (every import, lazy ones too), for architecture tests."""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = "pipeline"


def module_file(module: str, root: Path = REPO) -> Path | None:
    """The file of a `pipeline.*` module (a package's __init__.py), or None if there is none."""
    base = root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def imports_of(module: str, root: Path = REPO) -> set[str]:
    """The `pipeline.*` modules `module` imports anywhere in its file, each package on the way included."""
    path = module_file(module, root)
    if path is None:
        return set()
    found: set[str] = set()
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, *([base] if base else [])])
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        for name in names:
            if name == PACKAGE or name.startswith(PACKAGE + "."):
                parts = name.split(".")
                found.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return {name for name in found if module_file(name, root) is not None} - {module}


def closure(roots: Iterable[str], root: Path = REPO) -> set[str]:
    """`roots` and every `pipeline.*` module they import, transitively."""
    seen: set[str] = set()
    pending = list(roots)
    while pending:
        module = pending.pop()
        if module in seen:
            continue
        seen.add(module)
        pending.extend(imports_of(module, root) - seen)
    return seen


def files_of(modules: Iterable[str], root: Path = REPO) -> set[Path]:
    return {path.relative_to(root) for module in modules if (path := module_file(module, root)) is not None}
