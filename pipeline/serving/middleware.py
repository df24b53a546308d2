"""ASGI middleware and a log filter for what BentoML leaves open: body size, content type, load, client errors."""

from __future__ import annotations

import json
import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CLOSE = [(b"connection", b"close")]


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
    """ASGI middleware for what BentoML leaves open: a body over `max_bytes` gets 413 (BentoML has no limit), and a
    POST that is not JSON gets 415 (multipart without a boundary was a 500 inside BentoML's form parser).

    A Content-Length over the limit is refused before the body is read. A body sent without one (chunked) is read
    here, up to the limit, before BentoML sees any of it, then handed on: refusing it from inside BentoML's handler,
    as this once did, made BentoML answer 500.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, origins: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.origins = origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        media_type = headers.get(b"content-type", b"application/json").split(b";")[0].strip().lower()
        if scope["method"] == "POST" and media_type != b"application/json":
            message = f"send JSON with Content-Type: application/json, not {media_type.decode()}"
            return await refuse(send, 415, message, cors(scope, self.origins))
        length = headers.get(b"content-length")
        if length is not None:
            # The server never hands on more body than Content-Length announces, so nothing more to count.
            if length.isdigit() and int(length) > self.max_bytes:
                return await refuse(send, 413, self.too_large, [*CLOSE, *cors(scope, self.origins)])
            return await self.app(scope, receive, send)
        messages: list[Message] = []
        received = 0
        more = scope["method"] in ("POST", "PUT", "PATCH")
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                return await refuse(send, 413, self.too_large, [*CLOSE, *cors(scope, self.origins)])
            messages.append(message)
            more = message.get("more_body", False)

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    @property
    def too_large(self) -> str:
        return f"request body is over {self.max_bytes:,} bytes (SENTIMENT_MAX_BODY_BYTES)"


class LoadShedder:
    """ASGI middleware that admits at most `max_queued` POSTs (the scoring requests) per worker and answers the next
    with 503 and Retry-After before reading its body, so queued bodies and waiting time have a ceiling. Health checks
    are GETs and never wait here; the model runs off the event loop, so they never wait behind it either."""

    def __init__(
        self, app: ASGIApp, max_queued: int, retry_after_s: int = 1, origins: frozenset[str] = frozenset()
    ) -> None:
        self.app = app
        self.max_queued = max_queued
        self.retry_after_s = retry_after_s
        self.origins = origins
        self.queued = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        if self.queued >= self.max_queued:
            message = (
                f"busy: this worker already holds {self.max_queued} requests (SENTIMENT_MAX_QUEUED_REQUESTS); "
                f"retry in {self.retry_after_s} s"
            )
            retry = [(b"retry-after", str(self.retry_after_s).encode())]
            return await refuse(send, 503, message, [*retry, *cors(scope, self.origins)])
        self.queued += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.queued -= 1


def cors(scope: Scope, origins: frozenset[str]) -> list[tuple[bytes, bytes]]:
    """The CORS headers BentoML's own middleware would add, for answers given before it runs: without them a page
    from an allowed origin sees a network error instead of the 413, 415 or 503 and its message."""
    origin = dict(scope["headers"]).get(b"origin", b"")
    if origin.decode("latin-1") not in origins:
        return [(b"vary", b"Origin")] if origins else []
    return [(b"access-control-allow-origin", origin), (b"vary", b"Origin")]


async def refuse(send: Send, status: int, message: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """A JSON error answer. A body left unread is read and dropped by uvicorn before the connection's next request,
    unless `headers` hold CLOSE: worth it for a body too large to be worth reading."""
    body = json.dumps({"error": message}).encode()
    start = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": [*start, *(headers or [])]})
    await send({"type": "http.response.body", "body": body})
