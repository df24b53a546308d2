"""Serving's pinned requirements, derived from uv.lock: run `python -m tests.support.requirements` after `uv lock`.

uv exports whole projects only, so the closure of serving's few packages is walked here, evaluating each
dependency's environment marker for the platform the image and the Lambda run on.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path
from typing import Any

from packaging.markers import Marker

from pipeline.serving import PACKAGES, REQUIREMENTS

REPO = Path(__file__).resolve().parents[2]
PROJECT = "sentiment-pipeline"
# Linux x86_64, CPython 3.11: the python:3.11-slim image and Lambda's python3.11 runtime.
TARGET = {
    "python_version": "3.11",
    "python_full_version": "3.11.7",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "os_name": "posix",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "extra": "",
}
HEADER = "# Generated from uv.lock by `python -m tests.support.requirements`: serving's packages, pinned.\n"


def applies(entry: dict[str, Any]) -> bool:
    return "marker" not in entry or Marker(entry["marker"]).evaluate(TARGET)


def pinned(lock_path: Path = REPO / "uv.lock") -> dict[str, str]:
    """name -> version of PACKAGES and everything they need on TARGET, as uv.lock resolved them."""
    packages: dict[str, list[dict[str, Any]]] = {}
    for package in tomllib.loads(lock_path.read_text(encoding="utf-8"))["package"]:
        packages.setdefault(package["name"], []).append(package)
    project = packages[PROJECT][0]
    wanted = [dep for dep in project["dependencies"] if dep["name"] in PACKAGES and applies(dep)]
    missing = set(PACKAGES) - {dep["name"] for dep in wanted}
    if missing:
        raise SystemExit(f"{sorted(missing)} are not dependencies of {PROJECT} in uv.lock")
    versions: dict[str, str] = {}
    while wanted:
        dep = wanted.pop()
        name = dep["name"]
        choices = packages[name]
        chosen = next(p for p in choices if "version" not in dep or p["version"] == dep["version"])
        if name in versions:
            continue
        versions[name] = chosen["version"]
        wanted += [sub for sub in chosen.get("dependencies", []) if applies(sub)]
    return dict(sorted(versions.items()))


def render(versions: dict[str, str]) -> str:
    return HEADER + "".join(f"{name}=={version}\n" for name, version in versions.items())


if __name__ == "__main__":
    REQUIREMENTS.write_text(render(pinned()), encoding="utf-8")
    sys.stdout.write(f"wrote {REQUIREMENTS.relative_to(REPO)}\n")
