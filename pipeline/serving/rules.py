"""The HTTP API's rules, shared by the BentoML service and the Lambda handler so both answer alike.

Limits come from the environment, so one image or zip serves anywhere: SENTIMENT_MAX_TEXT_BYTES
(100,000) and SENTIMENT_CORS_ORIGINS (the local front-end origins; never "*").
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

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
DEFAULT_CORS_ORIGINS = "http://localhost:8080,http://127.0.0.1:8080"


def max_text_bytes() -> int:
    return int(os.environ.get("SENTIMENT_MAX_TEXT_BYTES", 100_000))


def max_body_bytes() -> int:
    """A full batch of long reviews fits; anything larger is refused before it is parsed."""
    return int(os.environ.get("SENTIMENT_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES))


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


def check_text(text: str) -> str:
    """A review worth classifying: not blank, not over the size limit. ValueError says why not."""
    if not text.strip():
        raise ValueError("text is empty; send the review to classify")
    size = len(text.encode("utf-8"))
    limit = max_text_bytes()
    if size > limit:
        raise ValueError(f"text is {size:,} bytes; the limit is {limit:,} (SENTIMENT_MAX_TEXT_BYTES)")
    return text


class Prediction(BaseModel):
    """A typed response: BentoML would rebuild a JSON schema for every `dict` it returns."""

    label: Label
    score: float = Field(description="probability of `label`, 0.5 to 1")
    model: str = Field(description="the model version that answered")


def predictions(model: SentimentModel, texts: Sequence[str], version: str) -> list[Prediction]:
    """The label of each text with its probability; ties go to the first label, as in evaluation."""
    answers = []
    every = (probabilities for chunk in chunks(texts) for probabilities in model.predict_proba(chunk))
    for probabilities in every:
        label = top_label(probabilities)
        answers.append(Prediction(label=label, score=probabilities[label], model=version))
    return answers
