"""The label set every stage, model and response uses, the spellings read as each label, and the one top-label rule."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from pipeline.errors import PipelineError

Label = Literal["negative", "positive"]
LABELS: tuple[Label, ...] = ("negative", "positive")

# Spellings of the two labels found in corpora and users' files; everything else is an error.
LABEL_ALIASES = {
    "negative": "negative", "neg": "negative", "0": "negative",
    "positive": "positive", "pos": "positive", "1": "positive",
}  # fmt: skip


def normalize_label(label: object) -> str:
    key = str(label).strip().lower()
    if key not in LABEL_ALIASES:
        raise PipelineError(f"unknown label {label!r}; expected one of {', '.join(sorted(LABEL_ALIASES))}")
    return LABEL_ALIASES[key]


def check_training_labels(labels: Sequence[str]) -> None:
    found = set(labels)
    unknown = found - set(LABELS)
    if unknown:
        raise PipelineError(f"training labels {sorted(unknown)} are not in {LABELS}")
    if len(found) < len(LABELS):
        raise PipelineError(f"training data has only {sorted(found)}; a classifier needs both {LABELS}")


def top_label(probabilities: Mapping[str, float]) -> Label:
    """The most probable label; a tie goes to the first of LABELS, so a 50/50 review gets one answer everywhere."""
    return max(LABELS, key=probabilities.__getitem__)
