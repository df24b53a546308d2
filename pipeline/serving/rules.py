"""The HTTP API's rules, shared by the BentoML service and the Lambda handler so both answer alike.

Limits come from the environment, so one image or zip serves anywhere: SENTIMENT_MAX_TEXT_BYTES
(100,000) and SENTIMENT_CORS_ORIGINS (the local front-end origins; never "*").
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from pydantic import BaseModel, Field

from pipeline.errors import PipelineError
from pipeline.labels import Label, top_label
from pipeline.model import SentimentModel

MAX_BATCH = 1000
DEFAULT_CORS_ORIGINS = "http://localhost:8080,http://127.0.0.1:8080"


def max_text_bytes() -> int:
    return int(os.environ.get("SENTIMENT_MAX_TEXT_BYTES", 100_000))


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
    for probabilities in model.predict_proba(texts):
        label = top_label(probabilities)
        answers.append(Prediction(label=label, score=probabilities[label], model=version))
    return answers
