"""GET /model: the served model's card in brief, from the card.json that `package` put beside its weights.

The card is written by `select` (pipeline/model_card.py) and travels inside the BentoML model, the bento and the
Lambda zip, so the summary always belongs to the model that answers /predict: its "model" field is the same tag.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.errors import PipelineError

if TYPE_CHECKING:  # the Lambda zip has no Starlette: its handler imports this module for read_card() and summary()
    from starlette.types import ASGIApp, Receive, Scope, Send

CARD_FILE = "card.json"
ROUTE = "/model"


def read_card(model_dir: Path) -> dict[str, Any] | None:
    """The full card, or None for a model packaged before cards were."""
    path = model_dir / CARD_FILE
    if not path.is_file():
        return None
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
        summary(card, "")  # every field GET /model answers is there
    except (ValueError, KeyError, TypeError) as error:
        raise PipelineError(
            f"{path} is not a model card ({type(error).__name__}: {error}); rerun `dvc repro`"
        ) from None
    return card


def summary(card: dict[str, Any], served_as: str) -> dict[str, Any]:
    """What a client needs to know which model answers and how far to trust it: identity, data digests, headline
    metrics with their intervals, and the known limits. The whole card is model_card.md beside the weights."""
    data, metrics, calibration = card["data"], card["metrics"], card["calibration"]
    selection = card["selection"]
    return {
        "model": served_as,
        "name": card["name"],
        "version": card["version"],
        "candidate": card["candidate"],
        "kind": card["kind"],
        "trained_at": card["trained_at"],
        "intended_use": card["intended_use"],
        "data": {
            "source": data["source"],
            "documents": data["documents"],
            "sha256": data["sha256"],
            "train_sha256": data["train"]["sha256"],
            "test_sha256": data["test"]["sha256"],
        },
        "metrics": {
            "selection": {"metric": selection["metric"], **selection["cv"]},
            "test_accuracy": metrics["test"]["accuracy"],
            "test_by_length": metrics["test_by_length"],
            "test_by_source": metrics["test_by_source"],
            "calibration_test": calibration["test"],
        },
        "limits": [row["limit"] for row in card["limits"]],
    }


class ModelCardRoute:
    """ASGI middleware that answers GET (and HEAD) /model with the summary; everything else goes on to BentoML.

    BentoML's APIs are POST routes; a middleware keeps the card out of the scoring path and its load shedding."""

    def __init__(self, app: ASGIApp, answer: dict[str, Any] | None, origins: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.body = json.dumps(answer).encode() if answer is not None else None
        self.origins = origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        from pipeline.serving.middleware import cors, refuse  # imports Starlette, which only the service has

        if scope["type"] != "http" or scope["path"].rstrip("/") != ROUTE:
            return await self.app(scope, receive, send)
        if scope["method"] not in ("GET", "HEAD"):
            return await refuse(
                send, 405, f"{scope['method']} is not allowed on {ROUTE}; use GET", cors(scope, self.origins)
            )
        if self.body is None:
            message = "this model was packaged without a model card; `dvc repro` packages one"
            return await refuse(send, 404, message, cors(scope, self.origins))
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(self.body)).encode()),
            *cors(scope, self.origins),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else self.body})
