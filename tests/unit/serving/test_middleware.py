"""The ASGI middleware in-process: body limits however the body is sent, and load shedding before the body is read."""

from __future__ import annotations

import asyncio
import json

from starlette.types import Message, Receive, Scope, Send

from pipeline.serving.middleware import LoadShedder, RequestGuard


def http_scope(method: str = "POST", headers: dict[bytes, bytes] | None = None, path: str = "/predict") -> Scope:
    return {"type": "http", "method": method, "path": path, "headers": list((headers or {}).items())}


class Recorder:
    """An app that reads the whole body and answers 200, recording what it read."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # noqa: ARG002
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        self.bodies.append(body)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


def chunked(*parts: bytes) -> Receive:
    """What uvicorn hands an app for a body sent with Transfer-Encoding: chunked: no Content-Length, many messages."""
    messages = [{"type": "http.request", "body": part, "more_body": True} for part in parts]
    messages.append({"type": "http.request", "body": b"", "more_body": False})

    async def receive() -> Message:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    return receive


def call(app: object, scope: Scope, receive: Receive) -> list[Message]:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))  # type: ignore[operator]
    return sent


def test_a_chunked_body_over_the_limit_gets_413_and_never_reaches_the_app() -> None:
    """It reached BentoML, which turned the guard's refusal into a 500 (issue: hardening, finding 4)."""
    inner = Recorder()
    sent = call(RequestGuard(inner, max_bytes=10), http_scope(), chunked(b"12345", b"67890", b"1"))
    assert sent[0]["status"] == 413 and (b"connection", b"close") in sent[0]["headers"]
    assert "SENTIMENT_MAX_BODY_BYTES" in json.loads(sent[1]["body"])["error"]
    assert inner.bodies == []


def test_a_chunked_body_within_the_limit_reaches_the_app_whole() -> None:
    inner = Recorder()
    sent = call(RequestGuard(inner, max_bytes=10), http_scope(), chunked(b"12345", b"67890"))
    assert sent[0]["status"] == 200 and inner.bodies == [b"1234567890"]


def test_a_declared_length_over_the_limit_is_refused_unread() -> None:
    inner = Recorder()
    scope = http_scope(headers={b"content-length": b"11", b"content-type": b"application/json"})
    sent = call(RequestGuard(inner, max_bytes=10), scope, chunked(b"x" * 11))
    assert sent[0]["status"] == 413 and inner.bodies == []


def test_a_full_worker_sheds_posts_with_503_and_retry_after_but_serves_health_checks() -> None:
    async def scenario() -> tuple[list[Message], list[Message], list[Message]]:
        release = asyncio.Event()

        async def slow(scope: Scope, receive: Receive, send: Send) -> None:  # noqa: ARG001
            await release.wait()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"{}"})

        shedder = LoadShedder(slow, max_queued=2)
        answers: list[list[Message]] = [[] for _ in range(4)]

        def collector(number: int) -> Send:
            async def send(message: Message) -> None:
                answers[number].append(message)

            return send

        queued = [asyncio.create_task(shedder(http_scope(), chunked(), collector(n))) for n in range(2)]
        await asyncio.sleep(0)
        await shedder(http_scope(), chunked(), collector(2))  # a third POST: answered at once
        health = asyncio.create_task(shedder(http_scope("GET", path="/readyz"), chunked(), collector(3)))
        await asyncio.sleep(0)
        release.set()
        await asyncio.gather(*queued, health)
        assert shedder.queued == 0
        return answers[2], answers[0], answers[3]

    shed, admitted, health = asyncio.run(scenario())
    assert shed[0]["status"] == 503 and (b"retry-after", b"1") in shed[0]["headers"]
    assert "SENTIMENT_MAX_QUEUED_REQUESTS" in json.loads(shed[1]["body"])["error"]
    assert admitted[0]["status"] == 200 and health[0]["status"] == 200


def test_refusals_carry_cors_headers_for_an_allowed_origin_only() -> None:
    """Answered before BentoML's CORS middleware, a 413 reached a page as a network error, its message lost."""
    origins = frozenset({"http://127.0.0.1:8080"})
    guard = RequestGuard(Recorder(), max_bytes=10, origins=origins)
    allowed = http_scope(headers={b"origin": b"http://127.0.0.1:8080", b"content-length": b"11"})
    sent = call(guard, allowed, chunked())
    assert sent[0]["status"] == 413 and (b"access-control-allow-origin", b"http://127.0.0.1:8080") in sent[0]["headers"]
    other = http_scope(headers={b"origin": b"http://127.0.0.1:9", b"content-type": b"text/plain"})
    sent = call(guard, other, chunked())
    assert sent[0]["status"] == 415 and not any(
        name == b"access-control-allow-origin" for name, _ in sent[0]["headers"]
    )
    shedder = LoadShedder(Recorder(), max_queued=0, origins=origins)
    sent = call(shedder, allowed, chunked())
    assert sent[0]["status"] == 503 and (b"access-control-allow-origin", b"http://127.0.0.1:8080") in sent[0]["headers"]
