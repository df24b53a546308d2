"""The HTTP API's rules, shared by the BentoML service and the Lambda handler so both answer alike.

Limits come from the environment, so one image or zip serves anywhere; SETTINGS names each with its default,
and check_settings() refuses a bad one at start-up, naming it, rather than on every request.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Annotated, cast

from pydantic import BaseModel, ConfigDict, Field, Strict

from pipeline.errors import PipelineError
from pipeline.labels import Label, top_label
from pipeline.model import ExplainingModel, SentimentModel

MAX_BATCH = 1000
# The model is called on at most this many characters of text at a time. Featurizing costs ~160 bytes of
# temporary arrays per character, so a batch the byte limits allow (16 MiB of one-letter words: 2.7 GB at
# once) stays at about 80 MB a call; real reviews (~4,000 characters) fill a call with ~130 of them.
SCORE_CHUNK_CHARACTERS = 512 * 1024
DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
# 1,000 reviews of movie_reviews' mean length (3,900 characters). Work grows with characters: real reviews cost
# ~0.12 us each in the champion, one-letter words ("a a a ...", the worst case) ~0.6 us, so the worst batch
# allowed is ~2.5 s of CPU, where the body limit alone allowed 16.7 M characters (9.7 s).
DEFAULT_MAX_BATCH_CHARACTERS = 4_000_000
DEFAULT_CORS_ORIGINS = "http://localhost:8080,http://127.0.0.1:8080"
# Explanations name this many n-grams per text unless a request asks for another number, up to MAX_EXPLAIN_TOP: enough
# for the page to mark a review's words, while a full batch's answer stays a few megabytes (1,000 texts x 100 n-grams
# x ~45 bytes of JSON each is 4.5 MB, under the 16 MiB a request may send).
DEFAULT_EXPLAIN_TOP = 10
MAX_EXPLAIN_TOP = 100
# Reviews scored once at start-up: a model whose answers are not probabilities over its labels never serves.
PROBE_REVIEWS = ("A moving, beautifully acted film.", "Dull, tedious and far too long.")


def whole_number(name: str, default: int, unit: str) -> int:
    """The environment variable `name` as a whole number above 0; PipelineError names it and what it got."""
    value = os.environ.get(name)
    if value is None:
        return default
    if not (value.strip().isdigit() and int(value) > 0):
        raise PipelineError(f"{name} must be a whole number of {unit} above 0, like {default}; got {value!r}")
    return int(value)


def seconds(name: str, default: float) -> float:
    """The environment variable `name` as a finite number of seconds above 0."""
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not (math.isfinite(number) and number > 0):
        raise PipelineError(f"{name} must be a number of seconds above 0, like {default:g}; got {value!r}")
    return number


def max_text_bytes() -> int:
    return whole_number("SENTIMENT_MAX_TEXT_BYTES", 100_000, "bytes")


def max_body_bytes() -> int:
    """A full batch of long reviews fits; anything larger is refused before it is parsed."""
    return whole_number("SENTIMENT_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES, "bytes")


def max_batch_characters() -> int:
    """The work one request may ask for, checked before any text is featurized."""
    return whole_number("SENTIMENT_MAX_BATCH_CHARACTERS", DEFAULT_MAX_BATCH_CHARACTERS, "characters")


def max_queued_requests() -> int:
    """Scoring requests a worker holds at once, running or waiting for its scoring thread; the next gets 503.

    A ceiling on queued work and bodies, not a routine answer: a 503 costs the event loop about what a request
    does, so a flood that ignores Retry-After gets mostly 503s (at 128, 256 connections got 37 answers a second
    where 1,390 came without the limit). 256 of the longest texts wait ~15 s, under the 30 s request timeout.
    """
    return whole_number("SENTIMENT_MAX_QUEUED_REQUESTS", 256, "requests")


def max_header_bytes() -> int:
    """The request line and headers together; h11's default. A browser's usual head is under 1 KiB."""
    return whole_number("SENTIMENT_MAX_HEADER_BYTES", 16 * 1024, "bytes")


def header_timeout_s() -> float:
    """From a connection's opening (or a request's first byte) to the end of its headers; a slow client is closed."""
    return seconds("SENTIMENT_HEADER_TIMEOUT_S", 10.0)


def prediction_log_rate() -> float:
    """The share of predictions written to stdout as JSON lines (pipeline/serving/observe.py): 0, off, by default,
    so serving speed is what it was; a deployment that watches for drift sets e.g. 0.01."""
    value = os.environ.get("SENTIMENT_PREDICTION_LOG_RATE", "0")
    try:
        rate = float(value)
    except ValueError:
        rate = math.nan
    if not 0 <= rate <= 1:
        raise PipelineError(f"SENTIMENT_PREDICTION_LOG_RATE must be a share from 0 to 1, like 0.01; got {value!r}")
    return rate


def chunks(texts: Sequence[str], characters: int | None = None) -> Iterator[Sequence[str]]:
    """Consecutive runs of `texts` of at most `characters` (SCORE_CHUNK_CHARACTERS) in all; a longer single text
    is a run of its own."""
    characters = characters or SCORE_CHUNK_CHARACTERS
    start, size = 0, 0
    for end, text in enumerate(texts):
        if end > start and size + len(text) > characters:
            yield texts[start:end]
            start, size = end, 0
        size += len(text)
    if start < len(texts):
        yield texts[start:]


def cors_origins() -> list[str]:
    """Origins whose pages may call the API; a page served by the API itself needs none."""
    origins = [o.strip() for o in os.environ.get("SENTIMENT_CORS_ORIGINS", DEFAULT_CORS_ORIGINS).split(",")]
    if "*" in origins:
        raise PipelineError("SENTIMENT_CORS_ORIGINS must list origins; '*' would let any site call the API")
    return [origin for origin in origins if origin]


# Every SENTIMENT_* setting the API reads per request or per connection, by name (the model's own settings,
# SENTIMENT_MODEL, SENTIMENT_MODEL_DIR and SENTIMENT_WORKERS, are read where the model is loaded).
SETTINGS: dict[str, Callable[[], object]] = {
    "SENTIMENT_MAX_TEXT_BYTES": max_text_bytes,
    "SENTIMENT_MAX_BODY_BYTES": max_body_bytes,
    "SENTIMENT_MAX_BATCH_CHARACTERS": max_batch_characters,
    "SENTIMENT_MAX_QUEUED_REQUESTS": max_queued_requests,
    "SENTIMENT_MAX_HEADER_BYTES": max_header_bytes,
    "SENTIMENT_HEADER_TIMEOUT_S": header_timeout_s,
    "SENTIMENT_CORS_ORIGINS": cors_origins,
    "SENTIMENT_PREDICTION_LOG_RATE": prediction_log_rate,
}


def check_settings() -> None:
    """Read every setting once, so a bad one stops the server at start-up instead of failing each request (a
    SENTIMENT_MAX_TEXT_BYTES of "100kB" passed health checks, then answered 400 to everything). All bad ones are
    named in one PipelineError."""
    problems = []
    for read in SETTINGS.values():
        try:
            read()
        except PipelineError as error:
            problems.append(str(error))
    if problems:
        raise PipelineError("; ".join(problems))


def check_model(model: SentimentModel) -> None:
    """Score PROBE_REVIEWS: answers that are not finite probabilities over the model's labels, summing to 1, mean
    the weights are broken, and such a model must not serve (NaN weights answered every request with a null score)."""
    for review, probabilities in zip(PROBE_REVIEWS, model.predict_proba(list(PROBE_REVIEWS)), strict=True):
        values = [probabilities.get(label, math.nan) for label in model.labels]
        if not (all(math.isfinite(p) and 0 <= p <= 1 for p in values) and math.isclose(sum(values), 1, abs_tol=1e-6)):
            raise PipelineError(
                f"the model answers {probabilities} for the probe review {review!r}: not probabilities over "
                f"{', '.join(model.labels)}; its weights are broken, re-run `dvc repro -f package`"
            )


def check_text(text: str) -> str:
    """A review worth classifying: not blank, not over the size limit. ValueError says why not."""
    if not text.strip():
        raise ValueError("text is empty; send the review to classify")
    size = len(text.encode("utf-8"))
    limit = max_text_bytes()
    if size > limit:
        raise ValueError(f"text is {size:,} bytes; the limit is {limit:,} (SENTIMENT_MAX_TEXT_BYTES)")
    return text


def check_batch(texts: list[str]) -> list[str]:
    """A batch no bigger in characters than SENTIMENT_MAX_BATCH_CHARACTERS; ValueError says by how much."""
    size = sum(map(len, texts))
    limit = max_batch_characters()
    if size > limit:
        raise ValueError(
            f"the texts hold {size:,} characters; the limit is {limit:,} per request "
            "(SENTIMENT_MAX_BATCH_CHARACTERS): send fewer or shorter texts per request"
        )
    return texts


# The API's opt-in, strict so that "yes", 1 or "10" are refused with a 400 rather than read as true or 10: the
# service takes them as parameters, the Lambda handler through ExplainOptions, so both refuse alike.
Explain = Annotated[
    bool,
    Strict(),
    Field(description="also say why: each answer gets an `explanation` (off by default; scoring is unchanged)"),
]
Top = Annotated[
    int,
    Strict(),
    Field(
        ge=1,
        le=MAX_EXPLAIN_TOP,
        description=f"with explain, how many n-grams each explanation names, 1 to {MAX_EXPLAIN_TOP}; ignored without",
    ),
]


class ExplainOptions(BaseModel):
    """The explain options of a request body, validated as the service validates its parameters (the Lambda's)."""

    model_config = ConfigDict(extra="ignore")

    explain: Explain = False
    top: Top = DEFAULT_EXPLAIN_TOP

    @property
    def wanted(self) -> int | None:
        """How many n-grams to name, or None when the request does not ask for explanations."""
        return self.top if self.explain else None


class Contribution(BaseModel):
    ngram: str = Field(
        description='tokens joined by spaces, lower-cased; "¬" marks a word inside a negation scope ("not ¬good"),'
        ' a leading "» " the copy counted from the review\'s closing sentences'
    )
    contribution: float = Field(description="what it adds to the log-odds of positive: above 0 pushes to positive")


class Explanation(BaseModel):
    """Why: intercept + sum(contributions) + other is the log-odds of positive whose logistic is the probability."""

    intercept: float = Field(description="the model's log-odds of positive before any n-gram is seen")
    contributions: list[Contribution] = Field(
        description="the `top` matched n-grams by absolute contribution, largest first; a repeated n-gram counts"
        " once under binary presence, as the model scores it"
    )
    other: float = Field(description="the sum of every other matched n-gram's contribution")


class Prediction(BaseModel):
    """A typed response: BentoML would rebuild a JSON schema for every `dict` it returns."""

    label: Label
    score: float = Field(description="probability of `label`, 0.5 to 1")
    model: str = Field(description="the model version that answered")
    # Left out of the JSON unless asked for, so answers without explain are what they always were.
    explanation: Explanation | None = Field(
        default=None, exclude_if=lambda value: value is None, description="only with `explain: true`"
    )


def predictions(model: SentimentModel, texts: Sequence[str], version: str, top: int | None = None) -> list[Prediction]:
    """The label of each text with its probability; ties go to the first label, as in evaluation. With `top`,
    each also says why, naming that many n-grams, from the same pass over the text that scores it.

    A score that is not a finite number raises PipelineError (a 500), never an answer: JSON would carry it as null.
    """
    if top is not None:
        return explained_predictions(model, texts, version, top)
    labels, scores = label_scores(model, texts)
    return [Prediction(label=label, score=score, model=version) for label, score in zip(labels, scores, strict=True)]


def label_scores(model: SentimentModel, texts: Sequence[str]) -> tuple[list[Label], list[float]]:
    """Each text's top label and that label's probability, scored in chunks: the answer the API gives and batch
    scoring writes (pipeline/batch), so a review gets the same one online and offline. A score that is not finite
    raises PipelineError."""
    labels: list[Label] = []
    scores: list[float] = []
    for probabilities in (p for chunk in chunks(texts) for p in model.predict_proba(chunk)):
        label = top_label(probabilities)
        labels.append(label)
        scores.append(finite_score(probabilities, label))
    return labels, scores


class ExplanationUnavailable(ValueError):
    """The served model cannot explain: a client error (400), since the same request without explain is answered."""


# Classes that explain (ExplainingModel), found once per class: isinstance() with a runtime-checkable protocol looks
# up every member each time, 19 us, a quarter of explaining a review.
EXPLAINING: dict[type, bool] = {}


def explaining(model: SentimentModel) -> ExplainingModel | None:
    kind = type(model)
    if kind not in EXPLAINING:
        EXPLAINING[kind] = isinstance(model, ExplainingModel)
    return cast(ExplainingModel, model) if EXPLAINING[kind] else None


def explained_predictions(model: SentimentModel, texts: Sequence[str], version: str, top: int) -> list[Prediction]:
    explainer = explaining(model)
    if explainer is None:
        raise ExplanationUnavailable(f"the served model ({model.kind}) gives no explanations; send explain: false")
    answers = []
    for explanation in (answer for chunk in chunks(texts) for answer in explainer.explain(chunk, top)):
        label = top_label(explanation.probabilities)
        parts = [explanation.intercept, explanation.other, *(part for _, part in explanation.contributions)]
        if not all(map(math.isfinite, parts)):
            raise PipelineError(f"the model explained a text with {parts}; its weights are broken")
        # One validation of plain data builds every nested model in pydantic's core: a third cheaper than a
        # Contribution(...) per n-gram (benchmarks/explain.py).
        answers.append(
            Prediction.model_validate({
                "label": label,
                "score": finite_score(explanation.probabilities, label),
                "model": version,
                "explanation": {
                    "intercept": explanation.intercept,
                    "contributions": [{"ngram": n, "contribution": part} for n, part in explanation.contributions],
                    "other": explanation.other,
                },
            })
        )  # fmt: skip
    return answers


def finite_score(probabilities: dict[str, float], label: str) -> float:
    score = probabilities[label]
    if not math.isfinite(score):
        raise PipelineError(f"the model scored a text {score} for {label}; its weights are broken")
    return score
