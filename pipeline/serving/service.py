"""BentoML service: the champion behind a typed HTTP API, and the front end at /ui/. Run: bentoml serve

Settings come from the environment, so one image serves anywhere (defaults in parentheses):
SENTIMENT_MODEL (the tag `dvc repro` packaged, read from models/bento.json), SENTIMENT_CORS_ORIGINS
(the local front-end origins), SENTIMENT_MAX_TEXT_BYTES (100,000), SENTIMENT_MAX_BODY_BYTES
(16 MiB), SENTIMENT_WORKERS (one per CPU).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Annotated, Literal

import bentoml
from pydantic import AfterValidator, Field
from starlette.staticfiles import StaticFiles

from pipeline.errors import PipelineError
from pipeline.model import SentimentModel, load
from pipeline.serving.middleware import ClientErrorsAreNotServerErrors, RequestGuard
from pipeline.serving.rules import MAX_BATCH, Prediction, check_text, cors_origins, max_body_bytes, predictions

ROOT = Path(__file__).resolve().parents[2]
PACKAGED = ROOT / "models" / "bento.json"  # written by the package stage; inside a bento, beside pipeline/
FRONTEND = ROOT / "frontend"

MAX_BODY_BYTES = max_body_bytes()


def model_tag() -> str:
    """The BentoML model to serve: SENTIMENT_MODEL, else the one `dvc repro` packaged last."""
    if tag := os.environ.get("SENTIMENT_MODEL"):
        return tag
    try:
        return json.loads(PACKAGED.read_text())["model"]
    except FileNotFoundError:
        raise PipelineError(f"no packaged model: {PACKAGED} is missing; run `dvc repro` first") from None
    except (ValueError, KeyError) as error:
        raise PipelineError(f"{PACKAGED} is unreadable ({error}); run `dvc repro -f package`") from None


def workers() -> int | Literal["cpu_count"]:
    """SENTIMENT_WORKERS as BentoML takes it: a count, or "cpu_count" for one per CPU."""
    value = os.environ.get("SENTIMENT_WORKERS", "cpu_count")
    if value != "cpu_count" and not (value.isdigit() and int(value) > 0):
        raise PipelineError(f"SENTIMENT_WORKERS must be a positive number or cpu_count, not {value!r}")
    return "cpu_count" if value == "cpu_count" else int(value)


Review = Annotated[str, AfterValidator(check_text), Field(description="A review as a user wrote it, raw")]


@bentoml.asgi_app(StaticFiles(directory=FRONTEND, html=True, check_dir=False), path="/ui")
@bentoml.service(
    name="sentiment",
    workers=workers(),
    traffic={"timeout": 30},
    # Two things BentoML does on every call that cost a worker a quarter of its time (py-spy, benchmarks/serve.py):
    # an INFO access-log line, and an OpenTelemetry span that nothing records (no exporter is configured, and
    # the default sample rate is 0). Client errors are still logged (ClientErrorsAreNotServerErrors). A BentoML
    # config file (BENTOML_CONFIG) turns either back on for a deployment that wants it:
    #   services: {sentiment: {logging: {access: {enabled: true}}, tracing: {excluded_urls: []}}}
    logging={"access": {"enabled": False}},
    tracing={"excluded_urls": ["/predict$", "/predict_batch$"]},
    http={
        "cors": {
            "enabled": True,
            "access_control_allow_origins": cors_origins(),
            "access_control_allow_methods": ["GET", "POST", "OPTIONS"],
            "access_control_allow_headers": ["content-type"],
            "access_control_max_age": 600,
        }
    },
)
class SentimentService:
    """Loads the champion once per worker and calls it; validation lives in the types above."""

    bento_model = bentoml.models.BentoModel(model_tag())

    def __init__(self) -> None:
        logging.getLogger("bentoml._internal.server.http_app").addFilter(ClientErrorsAreNotServerErrors())
        self.model: SentimentModel = load(Path(self.bento_model.path))
        self.tag = str(self.bento_model.tag)

    # async: one review takes under 1 ms, about what handing it to BentoML's thread pool and back costs.
    # predict_batch stays a plain method, so a 1,000-review batch runs in that pool and /readyz answers meanwhile.
    @bentoml.api
    async def predict(self, text: Review) -> Prediction:
        """Classify one review."""
        return predictions(self.model, [text], self.tag)[0]

    @bentoml.api
    def predict_batch(
        self, texts: Annotated[list[Review], Field(min_length=1, max_length=MAX_BATCH)]
    ) -> list[Prediction]:
        """Classify up to 1,000 reviews in one request, in order."""
        return predictions(self.model, texts, self.tag)


# BentoML's hint wants a factory protocol; a Starlette-style middleware class is what its docs pass.
SentimentService.add_asgi_middleware(RequestGuard, max_bytes=MAX_BODY_BYTES)  # pyright: ignore[reportArgumentType]
