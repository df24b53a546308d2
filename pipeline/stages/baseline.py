"""Baseline stage: score pre-made models (VADER, AWS Comprehend) on the test split beside the candidates.

dvc.yaml: sentiment baseline vader data/prepared metrics/baselines/vader.json
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipeline.baselines import comprehend as aws
from pipeline.baselines.vader import VaderParams, vader
from pipeline.corpus.splits import read_split
from pipeline.errors import PipelineError
from pipeline.files import staged, write_json
from pipeline.metrics import classification_scores
from pipeline.params import Params
from pipeline.tracking.runs import log_baseline

log = logging.getLogger(__name__)

BASELINES = ("vader", "comprehend")


class BaselineParams(Params):
    # Frozen models, so one shared default instance is safe.
    vader: VaderParams = VaderParams()
    comprehend: aws.ComprehendParams = aws.ComprehendParams()


def baseline(
    p: BaselineParams,
    name: str,
    prepared: Path,
    metrics_out: Path,
    experiment: str,
    *,
    confirmed: bool = False,
    tags: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Score baseline `name` on the test split. `confirmed` is the user's --yes for the paid Comprehend.

    The metrics file has the candidates' keys, so `dvc metrics show` lines them up; select never
    reads it, so a baseline can never become the champion.
    """
    if name not in BASELINES:
        raise PipelineError(f"unknown baseline '{name}'; known: {', '.join(BASELINES)}")
    _, texts, actual = read_split(prepared / "test.jsonl")
    if name == "vader":
        probabilities = vader(texts, p.vader)
        settings = p.vader.model_dump()
    else:
        actual, probabilities = aws.score(texts, actual, p.comprehend, confirmed)
        settings = p.comprehend.model_dump()
    result = classification_scores(actual, probabilities)
    with staged(metrics_out) as metrics_file:
        write_json(metrics_file, result)
        # Inside staged(): if MLflow fails, no metrics file claims the run was recorded.
        log_baseline(name, experiment, settings, result, tags)
    log.info("baseline %s on the test split: accuracy %.4f, ROC AUC %.4f", name, result["accuracy"], result["roc_auc"])
    return result
