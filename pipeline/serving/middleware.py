"""ASGI middleware and a log filter for what BentoML leaves open: body size, content type, client-error logging."""

from __future__ import annotations

import json
import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send


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

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
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

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise _TooLarge
            return message

        async def tracked_send(message: Message) -> None:
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
    async def _refuse(send: Send, status: int, message: str) -> None:
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
