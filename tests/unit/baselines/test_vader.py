"""VADER with its real lexicon, and the mapping of its compound score onto label probabilities."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.baselines.vader import VaderParams, compound_probabilities, vader
from pipeline.errors import PipelineError
from pipeline.params import parse
from pipeline.stages.baseline import BaselineParams


def test_vader_ranks_clear_reviews(vader_lexicon: Path) -> None:  # noqa: ARG001 (the lexicon it points at)
    glowing, scathing, flat = vader(
        [
            "A wonderful, moving film: superb acting and a brilliant script. I loved it.",
            "A dull, boring mess. The worst film this year, awful and tedious.",
            "The film is two hours long and was shot in Ohio.",
        ],
        VaderParams(),
    )
    assert glowing["positive"] > 0.9 and scathing["positive"] < 0.1
    assert glowing["positive"] > flat["positive"] > scathing["positive"]
    assert flat == {"negative": 0.5, "positive": 0.5}
    assert all(abs(sum(p.values()) - 1) < 1e-9 for p in (glowing, scathing, flat))


def test_compound_maps_monotonically_onto_probabilities() -> None:
    assert compound_probabilities(-1.0, 0.0) == {"negative": 1.0, "positive": 0.0}
    assert compound_probabilities(1.0, 0.2)["positive"] == 1.0
    assert compound_probabilities(0.2, 0.2)["positive"] == 0.5
    ladder = [compound_probabilities(c / 10, 0.3)["positive"] for c in range(-10, 11)]
    assert ladder == sorted(ladder)
    with pytest.raises(PipelineError, match="vader.positive_threshold: got 1.0 .*; needs a number between -1 and 1"):
        parse(BaselineParams, {"vader": {"positive_threshold": 1.0}}, "baseline")
