"""The HTTP API's rules, shared by the BentoML service and the Lambda handler so both answer alike.

Limits come from the environment, so one image or zip serves anywhere; SETTINGS names each with its default,
and check_settings() refuses a bad one at start-up, naming it, rather than on every request.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator, Sequence

from pydantic import BaseModel, Field

from pipeline.errors import PipelineError
from pipeline.labels import Label, top_label
from pipeline.model import SentimentModel

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


class Prediction(BaseModel):
    """A typed response: BentoML would rebuild a JSON schema for every `dict` it returns."""

    label: Label
    score: float = Field(description="probability of `label`, 0.5 to 1")
    model: str = Field(description="the model version that answered")


def predictions(model: SentimentModel, texts: Sequence[str], version: str) -> list[Prediction]:
    """The label of each text with its probability; ties go to the first label, as in evaluation.

    A score that is not a finite number raises PipelineError (a 500), never an answer: JSON would carry it as null.
    """
    answers = []
    every = (probabilities for chunk in chunks(texts) for probabilities in model.predict_proba(chunk))
    for probabilities in every:
        label = top_label(probabilities)
        score = probabilities[label]
        if not math.isfinite(score):
            raise PipelineError(f"the model scored a text {score} for {label}; its weights are broken")
        answers.append(Prediction(label=label, score=score, model=version))
    return answers
