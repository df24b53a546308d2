"""The page's copy of how the model reads a review, which it colours words by, stays the model's (frontend/app.js)."""

from __future__ import annotations

import json
import re

from pipeline.model.ngrams.features import CLAUSE_MARKS, NEGATED_PREFIX, NEGATION_CUES, TAIL_PREFIX
from pipeline.serving.rules import MAX_EXPLAIN_TOP
from tests.conftest import REPO

APP = (REPO / "frontend" / "app.js").read_text(encoding="utf-8")


def constant(name: str) -> object:
    """A `const NAME = <JSON literal>;` of app.js."""
    found = re.search(rf"^const {name} = (.+);$", APP, re.MULTILINE)
    assert found, f"app.js has no const {name}"
    return json.loads(found.group(1))


def test_negation_scopes_are_the_models() -> None:
    assert set(constant("NEGATION_CUES")) == NEGATION_CUES  # type: ignore[arg-type]
    assert set(constant("CLAUSE_MARKS")) == CLAUSE_MARKS  # type: ignore[arg-type]
    assert constant("NEGATED") == NEGATED_PREFIX


def test_names_are_read_as_the_api_writes_them() -> None:
    assert constant("TAIL") == f"{TAIL_PREFIX} "  # NgramFeatures.readable
    assert 1 <= constant("REASONS") <= constant("HIGHLIGHTED") <= MAX_EXPLAIN_TOP  # type: ignore[operator]


def test_tokens_are_runs_of_word_or_other_characters() -> None:
    """TOKEN_PATTERN's \\w is str.isalnum() or "_": letters and numbers of any script."""
    assert "const TOKENS = /[\\p{L}\\p{N}_]+|[^\\p{L}\\p{N}_\\s]+/gu;" in APP
