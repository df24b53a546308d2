"""What the served model says, watched: Prometheus metrics on /metrics and sampled prediction logs on stdout.

BentoML's own metrics count requests and time them; these count what the model answered: predictions by label,
the score and review-length distributions, explanation calls. The prediction log is one JSON line per sampled
prediction (label, score, length, out-of-vocabulary share), which CloudWatch Logs collects from an ECS task's
stdout and `sentiment drift` compares with the reference distribution recorded by the `reference` stage.

Cost per request is a few microseconds (docs/serving.md, Observability): the metric children are bound once per
worker, and the log tokenizes only the sampled texts. prometheus_client is imported when a worker builds its
Observer, not at module import: BentoML sets PROMETHEUS_MULTIPROC_DIR in the worker after importing the service,
and a client imported earlier would write to no file /metrics reads.
"""

from __future__ import annotations

import functools
import json
import logging
import random
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from pipeline.labels import LABELS
from pipeline.model import NgramLinearModel, SentimentModel
from pipeline.serving.rules import Prediction

# Scores are the top label's probability, 0.5 to 1: twenty bins of 0.025 would cost twice the buckets for
# nothing an alarm reads; these put the edges where a drift shows (confident answers vanishing, ties growing).
SCORE_BUCKETS = (0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.99)
# Characters per review: movie_reviews' median is ~3,500; the API accepts up to 100,000 bytes.
LENGTH_BUCKETS = (100, 300, 1_000, 2_000, 3_000, 4_000, 6_000, 10_000, 20_000, 50_000)
PREDICTION_EVENT = "prediction"
LOGGER = "sentiment.predictions"


def text_features(tokenize: Callable[[str], list[str]] | None, known: Any, text: str) -> dict[str, float | int]:
    """A review's length, and its share of tokens the model has no weight for: the same figures the serving log
    records and the `reference` stage computes on the test split, so `sentiment drift` compares like with like."""
    features: dict[str, float | int] = {"characters": len(text)}
    if tokenize is not None:
        tokens = tokenize(text)
        features["tokens"] = len(tokens)
        features["oov_share"] = sum(token not in known for token in tokens) / len(tokens) if tokens else 0.0
    return features


def vocabulary_of(model: SentimentModel) -> tuple[Callable[[str], list[str]] | None, Any]:
    """The model's own tokenizer and the tokens its n-grams use; (None, None) for a model without a vocabulary."""
    if isinstance(model, NgramLinearModel):
        return model.table.features.tokenizer(), model.table.token_ids
    return None, None


class Observer:
    """One per worker: the metric children bound to each label, and the sampled prediction log."""

    def __init__(self, model: SentimentModel, version: str, log_rate: float) -> None:
        predictions, scores, lengths, explained = metric_families()
        self.by_label = {label: predictions.labels(label=label, model=version) for label in LABELS}
        self.scores = {label: scores.labels(label=label) for label in LABELS}
        self.lengths, self.explained = lengths, explained
        self.version = version
        self.log_rate = log_rate
        self.tokenize, self.known = vocabulary_of(model) if log_rate > 0 else (None, None)
        self.log = prediction_logger() if log_rate > 0 else None

    def observe(self, texts: Sequence[str], answers: Sequence[Prediction], explained: bool) -> None:
        by_label, score_of, lengths = self.by_label, self.scores, self.lengths
        for text, answer in zip(texts, answers, strict=True):
            by_label[answer.label].inc()
            score_of[answer.label].observe(answer.score)
            lengths.observe(len(text))
        if explained:
            self.explained.inc()
        if self.log is not None:
            self.sample(self.log, texts, answers)

    def sample(self, log: logging.Logger, texts: Sequence[str], answers: Sequence[Prediction]) -> None:
        """One JSON line per sampled prediction. No review text: the log is read by more people than the reviews'
        authors agreed to show them to."""
        for text, answer in zip(texts, answers, strict=True):
            if random.random() >= self.log_rate:
                continue
            record = {
                "event": PREDICTION_EVENT,
                "time": round(time.time(), 3),
                "model": self.version,
                "label": answer.label,
                "score": round(answer.score, 6),
                **text_features(self.tokenize, self.known, text),
            }
            log.info(json.dumps(record, separators=(",", ":")))


@functools.cache
def metric_families() -> tuple[Any, Any, Any, Any]:
    """Registered once per process (prometheus_client refuses a name twice), on first use (the module says why)."""
    import prometheus_client

    return (
        prometheus_client.Counter(
            "sentiment_predictions", "Predictions answered, by label", labelnames=["label", "model"]
        ),
        prometheus_client.Histogram(
            "sentiment_prediction_score",
            "Probability of the predicted label (0.5 to 1)",
            labelnames=["label"],
            buckets=SCORE_BUCKETS,
        ),
        prometheus_client.Histogram(
            "sentiment_review_characters", "Characters per review scored", buckets=LENGTH_BUCKETS
        ),
        prometheus_client.Counter("sentiment_explanations", "Requests that asked for explanations (explain: true)"),
    )


def prediction_logger() -> logging.Logger:
    """JSON lines alone on stdout, whatever BentoML does with the root logger's format."""
    log = logging.getLogger(LOGGER)
    if not log.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    return log
