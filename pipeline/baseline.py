"""Baseline stage: score pre-made models (VADER, AWS Comprehend) on the test split beside the candidates.

dvc.yaml: sentiment baseline vader data/prepared metrics/baselines/vader.json
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline import comprehend as aws
from pipeline.errors import PipelineError
from pipeline.files import staged, write_json
from pipeline.metrics import scores
from pipeline.nltk_data import vader_lexicon
from pipeline.params import build
from pipeline.prepare import read_split
from pipeline.progress import logged

log = logging.getLogger(__name__)

BASELINES = ("vader", "comprehend")
ROLE = "baseline"


@dataclass(frozen=True)
class VaderParams:
    # The compound score (-1..1) that maps to P(positive) = 0.5. 0 is the lexicon's own midpoint.
    positive_threshold: float = 0.0

    def __post_init__(self) -> None:
        if not -1 < self.positive_threshold < 1:
            raise PipelineError(
                f"baseline.vader.positive_threshold must be between -1 and 1, not {self.positive_threshold}"
            )


@dataclass(frozen=True)
class BaselineParams:
    vader: VaderParams = field(default_factory=VaderParams)
    comprehend: aws.ComprehendParams = field(default_factory=aws.ComprehendParams)

    def __post_init__(self) -> None:
        """params.yaml gives plain mappings; build() names a misspelt key as baseline.<name>."""
        for name, cls in (("vader", VaderParams), ("comprehend", aws.ComprehendParams)):
            value = getattr(self, name)
            if not isinstance(value, cls):
                object.__setattr__(self, name, build(cls, value, f"baseline.{name}"))


def compound_probabilities(compound: float, threshold: float) -> dict[str, float]:
    """VADER's compound score -> probabilities, linear on each side of `threshold` so -1 -> 0 and 1 -> 1.

    Monotonic, so ROC AUC is the compound score's own; only accuracy and F1 depend on the threshold.
    """
    if compound >= threshold:
        positive = 0.5 + 0.5 * (compound - threshold) / (1 - threshold)
    else:
        positive = 0.5 - 0.5 * (threshold - compound) / (1 + threshold)
    positive = min(1.0, max(0.0, positive))
    return {"negative": 1 - positive, "positive": positive}


def vader(texts: list[str], p: VaderParams) -> list[dict[str, float]]:
    """Score whole documents, as users call VADER off the shelf.

    VADER is made for short texts and a review's compound score saturates near +-1, but averaging
    sentences would need a sentence splitter, and tuning it would stop this being a pre-made baseline.
    """
    from nltk.sentiment.vader import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer(lexicon_file=vader_lexicon())
    return [
        compound_probabilities(analyzer.polarity_scores(text)["compound"], p.positive_threshold)
        for text in logged(texts, len(texts), "documents scored by VADER", log)
    ]


def comprehend(
    texts: list[str], actual: list[str], p: aws.ComprehendParams, confirmed: bool
) -> tuple[list[str], list[dict[str, float]]]:
    """Labels and probabilities of the documents sent; the cost is logged before any call is made."""
    chosen = aws.capped(actual, p.max_documents) if p.max_documents > 0 else list(range(len(texts)))
    if len(chosen) < len(texts):
        log.info("sending %d of %d test documents (baseline.comprehend.max_documents)", len(chosen), len(texts))
    sent = [aws.truncate_utf8(texts[i]) for i in chosen]
    truncated = sum(text != texts[i] for text, i in zip(sent, chosen, strict=True))
    if truncated:
        log.warning(
            "%d of %d documents cut to Comprehend's %d-byte limit", truncated, len(sent), aws.MAX_DOCUMENT_BYTES
        )
    units = sum(aws.billable_units(text) for text in sent)
    cost = units * p.price_per_unit_usd
    log.info(
        "Comprehend bills %d units for %d documents (a unit is %d characters, at least %d a document): "
        "about $%.4f at %s USD a unit",
        units,
        len(sent),
        aws.CHARACTERS_PER_UNIT,
        aws.MINIMUM_UNITS,
        cost,
        p.price_per_unit_usd,
    )
    aws.require_opt_in(p, confirmed, len(sent), cost)
    results = aws.detect(aws.client(p), sent, p)
    return [actual[i] for i in chosen], [aws.probabilities(s, p.neutral, p.mixed) for s in results]


def log_run(name: str, experiment: str, settings: dict[str, Any], result: dict[str, Any]) -> str:
    """A run beside the candidates', with their test metric names, so the MLflow UI compares them."""
    import mlflow

    from pipeline.tracking import flatten

    try:
        mlflow.set_experiment(experiment)
        with mlflow.start_run(run_name=name, tags={"role": ROLE, ROLE: name}) as run:
            mlflow.log_params(flatten(settings))
            mlflow.log_metrics({key: float(value) for key, value in flatten(result, "test_").items()})
    except mlflow.exceptions.MlflowException as error:
        raise PipelineError(f"MLflow at {mlflow.get_tracking_uri()}: {error.message.splitlines()[0]}") from None
    return run.info.run_id


def baseline(
    p: BaselineParams, name: str, prepared: Path, metrics_out: Path, experiment: str, *, confirmed: bool = False
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
        settings = dataclasses.asdict(p.vader)
    else:
        actual, probabilities = comprehend(texts, actual, p.comprehend, confirmed)
        settings = dataclasses.asdict(p.comprehend)
    result = scores(actual, probabilities)
    with staged(metrics_out) as metrics_file:
        write_json(metrics_file, result)
        # Inside staged(): if MLflow fails, no metrics file claims the run was recorded.
        log_run(name, experiment, settings, result)
    log.info("baseline %s on the test split: accuracy %.4f, ROC AUC %.4f", name, result["accuracy"], result["roc_auc"])
    return result
