"""model.json, written beside every model's weights: its kind, format version, labels and options."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.errors import PipelineError
from pipeline.files import read_json, write_json

if TYPE_CHECKING:
    from pipeline.model.contract import SentimentModel

# Weights beside model.json are JSON or npz (read with allow_pickle=False), never pickle: a model file
# can then be inspected, and loading one runs no code.
FORMAT_VERSION = 1


def options_of(features: Any, params: Any = None) -> dict[str, Any]:
    """A model's saved options, which create() takes back: its features, then its kind's hyper-parameters.

    `features` and `params` are dataclass instances; `params` is None for a kind with none.
    """
    return {"features": dataclasses.asdict(features), **(dataclasses.asdict(params) if params is not None else {})}


def write_config(directory: Path, model: SentimentModel, options: dict[str, Any]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    write_json(directory / "model.json", {
        "kind": model.kind,
        "format_version": FORMAT_VERSION,
        "labels": list(model.labels),
        "options": options,
    })  # fmt: skip


def read_config(directory: Path) -> tuple[str, dict[str, Any]]:
    """The kind and options saved in `directory`, naming the problem when model.json is missing or not ours."""
    config_path = directory / "model.json"
    try:
        config = read_json(config_path)
        kind = config["kind"]
        version = config["format_version"]
    except FileNotFoundError:
        raise PipelineError(f"no model at {directory}: {config_path} is missing") from None
    except (ValueError, KeyError, TypeError) as error:
        raise PipelineError(f"{config_path} is not a valid model file ({error})") from None
    if version != FORMAT_VERSION:
        raise PipelineError(f"{config_path} has format {version}; this code reads {FORMAT_VERSION}")
    return kind, config.get("options", {})
