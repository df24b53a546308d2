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
from typing import Annotated

import bentoml
from pydantic import AfterValidator, Field
from starlette.staticfiles import StaticFiles

from pipeline.api import MAX_BATCH, Prediction, check_text, cors_origins, predictions
from pipeline.errors import PipelineError
from pipeline.model import SentimentModel, load

ROOT = Path(__file__).resolve().parents[1]
PACKAGED = ROOT / "models" / "bento.json"  # written by the package stage; inside a bento, beside pipeline/
FRONTEND = ROOT / "frontend"

# A full batch of long reviews fits; anything larger is refused before it is read.
MAX_BODY_BYTES = int(os.environ.get("SENTIMENT_MAX_BODY_BYTES", 16 * 1024 * 1024))


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


def workers() -> int | str:
    """SENTIMENT_WORKERS as BentoML takes it: a count, or "cpu_count" for one per CPU."""
    value = os.environ.get("SENTIMENT_WORKERS", "cpu_count")
    if value != "cpu_count" and not (value.isdigit() and int(value) > 0):
        raise PipelineError(f"SENTIMENT_WORKERS must be a positive number or cpu_count, not {value!r}")
    return value if value == "cpu_count" else int(value)


Review = Annotated[str, AfterValidator(check_text), Field(description="A review as a user wrote it, raw")]


class ClientErrorsAreNotServerErrors(logging.Filter):
    """BentoML logs each 400 at ERROR with a traceback; a client's bad input is INFO, one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        code = getattr(getattr(error, "error_code", None), "value", 500)
        if error is not None and (type(error).__name__ == "ValidationError" or code < 500):
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.msg = "client error on %s [%s]: " + str(error).splitlines()[0].replace("%", "%%")
            record.exc_info = record.exc_text = None
        return True


class RequestGuard:
    """ASGI middleware for what BentoML leaves open: a body over `max_bytes` gets 413 before it is
    read (BentoML has no limit), and a POST that is not JSON gets 415 (multipart without a boundary
    was a 500 inside BentoML's form parser)."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        media_type = headers.get(b"content-type", b"application/json").split(b";")[0].strip().lower()
        if scope["method"] == "POST" and media_type != b"application/json":
            return await self._refuse(
                send, 415, f"send JSON with Content-Type: application/json, not {media_type.decode()}"
            )
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            return await self._refuse(send, 413, self.too_large)
        received = 0
        started = False

        async def counted_receive():
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise _TooLarge
            return message

        async def tracked_send(message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except _TooLarge:
            if not started:
                await self._refuse(send, 413, self.too_large)

    @property
    def too_large(self) -> str:
        return f"request body is over {self.max_bytes:,} bytes (SENTIMENT_MAX_BODY_BYTES)"

    @staticmethod
    async def _refuse(send, status: int, message: str) -> None:
        body = json.dumps({"error": message})
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body.encode()})


class _TooLarge(Exception):
    pass


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


SentimentService.add_asgi_middleware(RequestGuard, max_bytes=MAX_BODY_BYTES)
