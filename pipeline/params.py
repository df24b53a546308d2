"""load_section(): one params.yaml section -> one frozen dataclass, so a misspelt key fails early."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, TypeVar

import yaml

from pipeline.errors import PipelineError

T = TypeVar("T")

DEFAULT_PATH = Path("params.yaml")


def read_params(path: Path = DEFAULT_PATH) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PipelineError(f"{path} not found: run from the repository root") from None
    except yaml.YAMLError as error:
        raise PipelineError(f"{path} is not valid YAML: {error}".replace("\n", " ")) from None
    if not isinstance(data, dict):
        raise PipelineError(f"{path} must be a mapping of sections")
    return data


def build(cls: type[T], values: Any, where: str) -> T:
    """Construct a params dataclass, naming the section and the bad or missing key on failure."""
    if not isinstance(values, dict):
        raise PipelineError(f"{where} must be a mapping, got {type(values).__name__}")
    names = {field.name for field in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - names)
    if unknown:
        raise PipelineError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}")
    try:
        return cls(**values)
    except TypeError as error:
        raise PipelineError(f"{where}: {error}") from None


def load_section(cls: type[T], name: str, path: Path = DEFAULT_PATH) -> T:
    data = read_params(path)
    if name not in data:
        raise PipelineError(f"{path} has no '{name}' section")
    return build(cls, data[name], f"{path} section '{name}'")
