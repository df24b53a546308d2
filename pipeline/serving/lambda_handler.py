"""AWS Lambda entry point (pipeline.serving.lambda_handler.handler): the champion behind API Gateway or a Function URL.

Accepts API Gateway REST (payload v1), HTTP API (v2) and Function URL events (v2's shape) and answers
as the BentoML service does: POST /predict {"text"} and POST /predict_batch {"texts"}, each with the optional
{"explain": true, "top": 10} (rules.ExplainOptions), 4xx with a
message on bad input, CORS headers for SENTIMENT_CORS_ORIGINS. The model is read from the zip's
model/ folder (or SENTIMENT_MODEL_DIR) once per container, on the first request.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import time
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pipeline.model import SentimentModel, load
from pipeline.serving.card import ROUTE, read_card, summary
from pipeline.serving.rules import (
    MAX_BATCH,
    ExplainOptions,
    ExplanationUnavailable,
    check_batch,
    check_model,
    check_settings,
    check_text,
    cors_origins,
    max_body_bytes,
    predictions,
)

log = logging.getLogger(__name__)

MODEL_DIR = Path(__file__).resolve().parents[2] / "model"


class ClientError(Exception):
    """Bad input: becomes a 4xx with this message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@cache
def champion() -> tuple[SentimentModel, str]:
    """Loaded on the first request of a container and kept: that first load is the cold start. A bad setting, or a
    model that does not answer probabilities, raises here: each request then gets a 500, and the log names why."""
    started = time.perf_counter()
    check_settings()
    directory = Path(os.environ.get("SENTIMENT_MODEL_DIR", MODEL_DIR))
    model = load(directory)
    check_model(model)
    # The zip carries models/bento.json, so the Lambda names the same model tag as the service.
    serving = directory / "bento.json"
    version = json.loads(serving.read_text())["model"] if serving.exists() else f"lambda:{directory.name}"
    log.info("loaded %s from %s in %.0f ms", model.kind, directory, (time.perf_counter() - started) * 1000)
    return model, str(version)


def model_card() -> dict[str, Any]:
    """GET /model: the card's summary (pipeline/serving/card.py), as the BentoML service answers it."""
    _, version = champion()
    card = read_card(Path(os.environ.get("SENTIMENT_MODEL_DIR", MODEL_DIR)))
    if card is None:
        raise ClientError(404, "this model was packaged without a model card; `dvc repro` packages one")
    return summary(card, version)


def _request(event: Any) -> tuple[str, str, dict[str, str], str]:
    """(method, path, lower-cased headers, body) from a v1 or v2 event; any other shape is the caller's error."""
    if not isinstance(event, dict):
        raise ClientError(400, "not an API Gateway or Function URL event: expected a JSON object")
    context = event.get("requestContext") or {}
    http = (context.get("http") if isinstance(context, dict) else None) or {}
    method = event.get("httpMethod") or (http.get("method") if isinstance(http, dict) else None) or ""
    path = event.get("rawPath") or event.get("path") or (http.get("path") if isinstance(http, dict) else None) or "/"
    headers, body = event.get("headers") or {}, event.get("body") or ""
    if not (isinstance(method, str) and isinstance(path, str) and isinstance(body, str) and isinstance(headers, dict)):
        raise ClientError(400, "malformed event: method, path and body must be strings and headers an object")
    headers = {str(key).lower(): str(value) for key, value in headers.items()}
    limit = max_body_bytes()
    too_large = ClientError(413, f"request body is over {limit:,} bytes (SENTIMENT_MAX_BODY_BYTES)")
    encoded = bool(event.get("isBase64Encoded"))
    # Checked before decoding or parsing: base64 takes 4 characters per 3 bytes, and characters never
    # outnumber UTF-8 bytes, so most oversized bodies are refused without being copied.
    if len(body) > (limit * 4 // 3 + 4 if encoded else limit):
        raise too_large
    if encoded:
        try:
            body = base64.b64decode(body).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise ClientError(400, "the body is not UTF-8 text") from None
    if len(body.encode("utf-8", "surrogatepass")) > limit:
        raise too_large
    return method.upper(), path, headers, body


def _cors(headers: dict[str, str]) -> dict[str, str]:
    origin = headers.get("origin")
    if origin is None or origin not in cors_origins():
        return {}
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Methods": "POST, OPTIONS",
        "Access-Control-Allow-Headers": "content-type",
        "Access-Control-Max-Age": "600",
        "Vary": "Origin",
    }


def _json(status: int, payload: Any, headers: dict[str, str]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", **headers},
        "body": json.dumps(payload),
        "isBase64Encoded": False,
    }


def _texts(path: str, body: str) -> tuple[list[str], bool, int | None]:
    """The texts asked about, whether the caller wants a list back, and how many n-grams to explain (None: no
    explanation)."""
    try:
        payload = json.loads(body)
    except json.JSONDecodeError as error:
        raise ClientError(400, f"invalid JSON: {error}") from None
    except (ValueError, RecursionError) as error:  # an integer of over 4,300 digits; nesting past the stack
        raise ClientError(400, f"unreadable JSON: {str(error).splitlines()[0][:200]}") from None
    if not isinstance(payload, dict):
        raise ClientError(400, "send a JSON object")
    if path.endswith("/predict_batch"):
        texts = payload.get("texts")
        if not isinstance(texts, list) or not all(isinstance(text, str) for text in texts):
            raise ClientError(400, "'texts' must be a list of strings")
        if not 1 <= len(texts) <= MAX_BATCH:
            raise ClientError(400, f"'texts' must hold 1 to {MAX_BATCH} reviews, not {len(texts)}")
        batch = True
    elif path.endswith("/predict"):
        if not isinstance(payload.get("text"), str):
            raise ClientError(400, "'text' is required and must be a string")
        texts, batch = [payload["text"]], False
    else:
        raise ClientError(404, f"no endpoint {path}; use POST /predict or /predict_batch")
    try:
        options = ExplainOptions.model_validate(payload)
    except ValidationError as error:  # the service's own messages: its parameters have the same types
        raise ClientError(
            400, "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        ) from None
    try:
        return check_batch([check_text(text) for text in texts]), batch, options.wanted
    except ValueError as error:
        raise ClientError(400, str(error)) from None


def handler(event: Any, context: Any = None) -> dict[str, Any]:  # noqa: ARG001 (Lambda's signature)
    cors: dict[str, str] = {}
    try:
        method, path, headers, body = _request(event)
        cors = _cors(headers)
        if method == "OPTIONS":
            return {"statusCode": 204 if cors else 403, "headers": cors, "body": ""}
        if path.rstrip("/").endswith(ROUTE) and method == "GET":
            return _json(200, model_card(), cors)
        if method != "POST":
            raise ClientError(405, f"{method} is not allowed; use POST")
        media_type = headers.get("content-type", "application/json").split(";")[0].strip().lower()
        if media_type != "application/json":
            raise ClientError(415, f"send JSON with Content-Type: application/json, not {media_type}")
        texts, batch, top = _texts(path, body)
        model, version = champion()
        try:
            answers = [answer.model_dump() for answer in predictions(model, texts, version, top)]
        except ExplanationUnavailable as error:
            raise ClientError(400, str(error)) from None
        return _json(200, answers if batch else answers[0], cors)
    except ClientError as error:
        log.info("client error: %s", error)
        return _json(error.status, {"error": str(error)}, cors)
    except Exception:  # a bug or a broken model: logged with its traceback, answered, never raised to Lambda
        log.exception("unhandled error")
        return _json(500, {"error": "internal error; the function's log has the details"}, cors)
