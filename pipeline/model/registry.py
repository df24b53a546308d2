"""Every model kind by name: create() a fresh one from params, load() a saved one by what its model.json says."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipeline.errors import PipelineError
from pipeline.model.bag_of_words import NltkNaiveBayes
from pipeline.model.contract import ModelClass, SentimentModel
from pipeline.model.linear.ensemble import MEMBER_KINDS, LinearEnsemble
from pipeline.model.saved import FORMAT_VERSION, read_config

__all__ = ["FORMAT_VERSION", "MODELS", "create", "load"]

# Adding a model means adding its class here; an n-gram linear model goes in MEMBER_KINDS instead, so
# ensembles can hold it too.
MODELS: dict[str, ModelClass] = {
    NltkNaiveBayes.kind: NltkNaiveBayes,
    **MEMBER_KINDS,
    LinearEnsemble.kind: LinearEnsemble,
}


def create(kind: str, options: Mapping[str, Any]) -> SentimentModel:
    """A fresh, unfitted model of `kind`, naming the problem when the kind or an option is wrong."""
    if kind not in MODELS:
        raise PipelineError(f"unknown model kind '{kind}'; known: {', '.join(sorted(MODELS))}")
    try:
        return MODELS[kind](**options)
    except TypeError as error:
        raise PipelineError(f"model kind '{kind}': {error}") from None


def load(directory: Path) -> SentimentModel:
    """Read model.json to find the class, so callers never name it."""
    kind, options = read_config(directory)
    if kind not in MODELS:
        raise PipelineError(f"{directory / 'model.json'} names unknown model kind '{kind}'")
    try:
        return MODELS[kind].load(directory, options)
    except (FileNotFoundError, ValueError, KeyError, TypeError) as error:
        raise PipelineError(f"model weights in {directory} are unreadable ({error})") from None
