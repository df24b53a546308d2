"""The compiled scorer (_scorer.pyx) when this install has it, else None and one warning per process.

`uv sync` builds it (setup.py); an install without a C compiler, or a copy of the sources without the built
module, still serves every model through the numpy path, the same answers about ten times slower.
"""

from __future__ import annotations

import functools
import importlib
import logging
import os
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from pipeline.model.ngrams.fast_tokenizer import Entries
from pipeline.model.ngrams.features import NgramFeatures

if TYPE_CHECKING:
    from pipeline.model.ngrams._scorer import NgramScorer

log = logging.getLogger(__name__)


# Set to 0 to score with the numpy path even where the compiled scorer is built: to compare the two, or to
# rule the extension out when chasing a problem.
SWITCH = "SENTIMENT_COMPILED"


@functools.cache
def module() -> ModuleType | None:
    """pipeline.model.ngrams._scorer, or None (warned once) when it is not built for this Python or turned off."""
    if os.environ.get(SWITCH, "1") == "0":
        log.info("%s=0: scoring with numpy", SWITCH)
        return None
    try:
        return importlib.import_module("pipeline.model.ngrams._scorer")
    except ImportError as error:
        log.warning(
            "the compiled scorer is not built (%s): scoring with numpy, ~10x slower;"
            " with a C compiler, `uv sync --reinstall-package sentiment-pipeline` builds it",
            error,
        )
        return None


def scorer(features: NgramFeatures, tokens: Sequence[str], keys: np.ndarray, base: int) -> NgramScorer | None:
    """The compiled scorer of a vocabulary (token i has id i + 1, column c has n-gram key keys[c]), or None
    when the features need the regex path (stems, character n-grams) or the module is not built."""
    if not features.vectorizable:
        return None
    compiled = module()
    if compiled is None:
        return None
    entries = Entries.of(features, tokens)
    place_ids = np.stack([entries.place_ids[tail, scoped] for tail in (False, True) for scoped in (False, True)])
    return compiled.NgramScorer(
        entries.written,
        place_ids,
        entries.cues,
        keys,
        base,
        features.ngram_range,
        features.mark_negation,
        features.tail_sentences,
    )
