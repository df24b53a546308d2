"""GET /model's middleware, called as an ASGI app: the summary, HEAD, other methods, and no card."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from pipeline.errors import PipelineError
from pipeline.serving.card import ModelCardRoute, read_card, summary
from tests.conftest import train_tiny_champion
from tests.support.card import write_card


async def passed_on(scope: Any, receive: Any, send: Any) -> None:  # noqa: ARG001 (an ASGI app's signature)
    await send({"type": "http.response.start", "status": 299, "headers": []})
    await send({"type": "http.response.body", "body": b"BentoML"})


def call(route: ModelCardRoute, method: str, path: str, origin: str = "") -> tuple[int, dict[str, str], bytes]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    headers = [(b"origin", origin.encode())] if origin else []
    asyncio.run(route({"type": "http", "method": method, "path": path, "headers": headers}, receive, send))
    head = {key.decode(): value.decode() for key, value in sent[0]["headers"]}
    return sent[0]["status"], head, sent[1]["body"]


@pytest.fixture(scope="module")
def card(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("card")
    paths = write_card(root, train_tiny_champion(root, root / "champion"), "seed_nb")
    return json.loads(paths["summary"].read_text())


def test_get_and_head_answer_the_summary_and_the_rest_goes_on(card: dict[str, Any]) -> None:
    answer = summary(card, "tiny:abc")
    route = ModelCardRoute(passed_on, answer, origins=frozenset({"http://site"}))
    status, headers, body = call(route, "GET", "/model", origin="http://site")
    assert status == 200 and json.loads(body) == answer and headers["access-control-allow-origin"] == "http://site"
    assert answer["model"] == "tiny:abc" and answer["candidate"] == "seed_nb" and answer["version"] == 1
    assert answer["metrics"]["selection"]["metric"] == "accuracy" and "interval_95" in answer["metrics"]["selection"]
    assert call(route, "GET", "/model/")[0] == 200
    status, headers, body = call(route, "HEAD", "/model")
    assert status == 200 and body == b"" and int(headers["content-length"]) == len(json.dumps(answer))
    status, _, body = call(route, "DELETE", "/model")
    assert status == 405 and json.loads(body) == {"error": "DELETE is not allowed on /model; use GET"}
    assert call(route, "POST", "/predict")[2] == b"BentoML" and call(route, "GET", "/models")[2] == b"BentoML"


def test_a_model_without_a_card_gets_404_and_a_broken_card_is_named(tmp_path: Path) -> None:
    assert read_card(tmp_path) is None
    status, _, body = call(ModelCardRoute(passed_on, None), "GET", "/model")
    assert status == 404 and "packaged without a model card" in json.loads(body)["error"]
    (tmp_path / "card.json").write_text('{"name": "x"}')
    with pytest.raises(PipelineError, match=r"card.json is not a model card \(KeyError: 'data'\); rerun `dvc repro`"):
        read_card(tmp_path)
