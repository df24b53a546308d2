"""Typed params: one params.yaml section -> one frozen pydantic model, and a bad value -> one line naming its key."""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from pipeline.errors import PipelineError

DEFAULT_PATH = Path("params.yaml")

# Inputs longer than this are cut in messages: a whole mapping given where a number belongs would flood the line.
MAX_SHOWN = 60


class Params(BaseModel):
    """Every params model. Unknown keys fail, because a misspelt one would silently keep its default. Strict
    types, because coercion hides mistakes: YAML reads `"0.2"` and `"false"` as strings (and "false" is truthy),
    `5.5` folds is not 5, and `null` is not a seed. Only a YAML int where a float belongs passes, as it means the
    same. Built in code, a bad value raises pydantic's ValidationError; read from a file, parse() makes it one line.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


P = TypeVar("P", bound=BaseModel)


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


def parse(model: type[P], values: Any, section: str, source: str | Path = DEFAULT_PATH) -> P:
    """`values` (one section as YAML gave it) as `model`, or a PipelineError of one line naming each bad key."""
    try:
        return model.model_validate(values)
    except ValidationError as error:
        problems = "; ".join(_problem(model, section, problem) for problem in error.errors())
        raise PipelineError(f"{source}: {problems}") from None


def load_section(model: type[P], name: str, path: Path = DEFAULT_PATH) -> P:
    data = read_params(path)
    if name not in data:
        raise PipelineError(f"{path} has no '{name}' section")
    return parse(model, data[name], name, path)


def _problem(model: type[BaseModel], section: str, problem: Any) -> str:
    """One of pydantic's errors as `section.key: got ...; needs ...`, in the words of the YAML that was written."""
    location = tuple(problem["loc"])
    where = ".".join([section, *(str(part) for part in location)])
    kind = problem["type"]
    if kind in ("value_error", "assertion_error"):
        # Our validators word their messages as what a key needs; a model-wide one names its keys itself.
        need = str(problem["ctx"]["error"])
        return f"{where}: {need}" if not location else f"{where}: got {_shown(problem['input'])}; needs {need}"
    if kind == "extra_forbidden":
        known = ", ".join(_fields(_annotation_and_metadata_at(model, location[:-1])[0]))
        return f"{where}: got an unknown key; needs one of the known keys: {known}"
    described = _describe(*_annotation_and_metadata_at(model, location))
    need = described or problem["msg"].removeprefix("Input should be ")
    got = "nothing" if kind == "missing" else _shown(problem["input"])
    return f"{where}: got {got}; needs {need}"


def _shown(value: Any) -> str:
    if value is None:
        return "null"
    text = repr(value)
    if len(text) > MAX_SHOWN:
        text = text[: MAX_SHOWN - 3] + "..."
    return f"{text} ({type(value).__name__})"


def _fields(annotation: Any) -> list[str]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return list(annotation.model_fields)
    return []


def _annotation_and_metadata_at(model: type[BaseModel], location: tuple[Any, ...]) -> tuple[Any, list[Any]]:
    """The declared type and constraints of the value at `location`, following nested models, mappings and lists.

    (None, []) where the path leaves the declared types (pydantic also puts a union member's name in it)."""
    annotation: Any = model
    metadata: list[Any] = []
    for part in location:
        origin = get_origin(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel) and part in annotation.model_fields:
            field = annotation.model_fields[part]
            annotation, metadata = field.annotation, list(field.metadata)
        elif origin is dict:
            annotation, metadata = get_args(annotation)[1], []
        elif origin in (list, tuple) and isinstance(part, int):
            annotation, metadata = get_args(annotation)[0], []
        else:
            return None, []
    return annotation, metadata


TYPE_WORDS: dict[Any, str] = {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}
# Field(gt=..., ...) keeps each bound as an annotated_types object with the attribute of the same name.
BOUNDS = {"gt": "above", "ge": "of at least", "lt": "below", "le": "of at most"}


def _describe(annotation: Any, metadata: list[Any]) -> str:
    """What a value of this declared type and constraints looks like, in YAML words: 'a number between 0 and 1'."""
    origin = get_origin(annotation)
    if origin is Literal:
        return "one of " + ", ".join(str(choice) for choice in get_args(annotation))
    if origin in (Union, types.UnionType):
        choices = [_describe(choice, metadata) for choice in get_args(annotation) if choice is not type(None)]
        nullable = type(None) in get_args(annotation)
        return " or ".join(choices) + (" or null" if nullable else "")
    if origin in (list, tuple):
        return "a list"
    if origin is dict or (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
        return "a mapping"
    if annotation not in TYPE_WORDS:
        return ""
    bounds = {name: getattr(item, name) for item in metadata for name in BOUNDS if hasattr(item, name)}
    return TYPE_WORDS[annotation] + _range(bounds)


def _range(bounds: dict[str, Any]) -> str:
    if "gt" in bounds and "lt" in bounds:
        return f" between {bounds['gt']} and {bounds['lt']}"
    if "ge" in bounds and "le" in bounds:
        return f" from {bounds['ge']} to {bounds['le']}"
    return " and".join(f" {BOUNDS[name]} {value}" for name, value in bounds.items())
