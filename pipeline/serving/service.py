"""BentoML service: the champion behind a typed HTTP API, and the front end at /ui/. Run: bentoml serve

Settings come from the environment, so one image serves anywhere: SENTIMENT_MODEL (the tag `dvc repro` packaged,
read from models/bento.json), SENTIMENT_WORKERS (one per CPU), and the API's limits in rules.SETTINGS
(docs/serving.md lists each with its default). `bentoml serve` checks them all, and loads and probes the model,
in its own process before any worker starts; a problem is one line and exit code 1.
"""

from __future__ import annotations

import gc
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Literal

import anyio
import bentoml
from bentoml.exceptions import BentoMLException, InvalidArgument
from pydantic import AfterValidator, Field
from starlette.staticfiles import StaticFiles

from pipeline.errors import PipelineError
from pipeline.model import NgramLinearModel, SentimentModel, load
from pipeline.serving.card import ModelCardRoute, read_card, summary
from pipeline.serving.connections import guard_connections
from pipeline.serving.lifetime import exit_with_parent
from pipeline.serving.middleware import ClientErrorsAreNotServerErrors, LoadShedder, RequestGuard
from pipeline.serving.observe import Observer
from pipeline.serving.rules import (
    DEFAULT_EXPLAIN_TOP,
    MAX_BATCH,
    Explain,
    ExplanationUnavailable,
    Prediction,
    Top,
    check_batch,
    check_model,
    check_settings,
    check_text,
    cors_origins,
    header_timeout_s,
    max_body_bytes,
    max_header_bytes,
    max_queued_requests,
    prediction_log_rate,
    predictions,
)

ROOT = Path(__file__).resolve().parents[2]
PACKAGED = ROOT / "models" / "bento.json"  # written by the package stage; inside a bento, beside pipeline/
FRONTEND = ROOT / "frontend"
# In a worker: the `bentoml serve` process that started it, read before anything else could outlive it.
PARENT = os.getppid()
# Requests of at most this many characters are scored on the event loop when the compiled scorer serves the
# model: ~0.25 ms at most, less than the hop to a thread costs (~0.2 ms, a third of a request's CPU at
# 3,000 req/s). Longer ones, and every request of a model without it, go to one worker thread, so a 100 KB
# review or a full batch never holds up /readyz.
INLINE_CHARACTERS = 16_384


@contextmanager
def one_line_errors() -> Iterator[None]:
    """`bentoml serve` prints a BentoMLException as one line and exits 1; a PipelineError would print a traceback."""
    try:
        yield
    except PipelineError as error:
        raise BentoMLException(str(error)) from None


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
Reviews = Annotated[list[Review], Field(min_length=1, max_length=MAX_BATCH), AfterValidator(check_batch)]

# `bentoml serve` imports this module before it starts workers, so a bad setting stops it here, with one line.
with one_line_errors():
    check_settings()
    BENTO_MODEL = bentoml.models.BentoModel(model_tag())
    WORKERS = workers()
# Runs in every process that imports this module, and must: in a worker, uvicorn loads its config after the import.
guard_connections(max_header_bytes(), header_timeout_s())


@bentoml.asgi_app(StaticFiles(directory=FRONTEND, html=True, check_dir=False), path="/ui")
@bentoml.service(
    name="sentiment",
    workers=WORKERS,
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

    bento_model = BENTO_MODEL

    @bentoml.on_deployment
    def check_before_serving() -> None:
        """Runs once in `bentoml serve`'s own process, before any worker starts: a model that does not load (a
        truncated or empty weights file) or answers anything but probabilities stops the server with one line.
        Failing in the workers instead, it crash-looped: 18 tracebacks in 30 s, never ready, never exiting."""
        with one_line_errors():
            check_model(load(Path(BENTO_MODEL.resolve().path)))

    def __init__(self) -> None:
        exit_with_parent(PARENT)
        logging.getLogger("bentoml._internal.server.http_app").addFilter(ClientErrorsAreNotServerErrors())
        self.model: SentimentModel = load(Path(self.bento_model.path))
        self.tag = str(self.bento_model.tag)
        compiled = isinstance(self.model, NgramLinearModel) and self.model.table.compiled is not None
        self.inline_characters = INLINE_CHARACTERS if compiled else 0
        # One thread: the GIL lets no more numpy work run at once, and the compiled scorer holds one lock per model.
        self.thread = anyio.CapacityLimiter(1)
        self.observer = Observer(self.model, self.tag, prediction_log_rate())  # /metrics and the prediction log
        # Everything loaded so far (BentoML, pydantic, the model) lives as long as the worker: left out of the garbage
        # collector's full passes, which stalled the event loop under load (benchmarks/serve.py at 64 connections:
        # p99 ~70 -> ~35 ms; docs/serving.md, How fast).
        gc.freeze()

    async def answer(self, texts: list[str], top: int | None) -> list[Prediction]:
        """Scored here when short and compiled, else in the worker thread (INLINE_CHARACTERS says why). An
        explanation costs the compiled scorer about what scoring does (docs/serving.md, Explanations)."""
        try:
            if sum(map(len, texts)) <= self.inline_characters:
                answers = predictions(self.model, texts, self.tag, top)
            else:
                answers = await anyio.to_thread.run_sync(
                    predictions, self.model, texts, self.tag, top, limiter=self.thread
                )
        except ExplanationUnavailable as error:
            raise InvalidArgument(str(error)) from None
        self.observer.observe(texts, answers, explained=top is not None)
        return answers

    @bentoml.api
    async def predict(self, text: Review, explain: Explain = False, top: Top = DEFAULT_EXPLAIN_TOP) -> Prediction:
        """Classify one review; with explain, say which n-grams moved it and how far."""
        return (await self.answer([text], top if explain else None))[0]

    @bentoml.api
    async def predict_batch(
        self, texts: Reviews, explain: Explain = False, top: Top = DEFAULT_EXPLAIN_TOP
    ) -> list[Prediction]:
        """Classify up to 1,000 reviews in one request, in order; with explain, each answer says why."""
        return await self.answer(texts, top if explain else None)


# Outermost first. BentoML's hint wants a factory protocol; a Starlette-style middleware class is what its docs pass.
ORIGINS = frozenset(cors_origins())  # their refusals carry CORS headers too, so a page can read the message
SentimentService.add_asgi_middleware(LoadShedder, max_queued=max_queued_requests(), origins=ORIGINS)  # pyright: ignore[reportArgumentType]
SentimentService.add_asgi_middleware(RequestGuard, max_bytes=max_body_bytes(), origins=ORIGINS)  # pyright: ignore[reportArgumentType]
# GET /model: the served model's card in brief (pipeline/serving/card.py).
with one_line_errors():
    CARD = read_card(Path(BENTO_MODEL.resolve().path))
ANSWER = summary(CARD, str(BENTO_MODEL.tag)) if CARD else None
SentimentService.add_asgi_middleware(ModelCardRoute, answer=ANSWER, origins=ORIGINS)  # pyright: ignore[reportArgumentType]
