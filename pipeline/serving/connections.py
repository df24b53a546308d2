"""What uvicorn does not bound per connection: the size of a request's head and the time taken to send it.

uvicorn's httptools protocol accepts headers of any size and waits forever for them (its keep-alive timeout starts
only after a response, and any byte resets it), so a client sending a header a byte at a time (slowloris) holds a
connection open for good. No ASGI middleware can help: it runs once the head is complete. BentoML starts uvicorn
itself and passes no protocol, so the service points uvicorn's "auto" protocol at GuardedHttpToolsProtocol.
"""

from __future__ import annotations

import asyncio

import uvicorn.config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEAD_END = b"\r\n\r\n"


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, answering 431 and closing when a request's line and headers pass
    `max_head_bytes`, and 408 when they are not complete `head_timeout_s` after the connection opened or the
    request's first byte arrived; a connection that sends nothing in that time is closed unanswered. Bodies are not
    counted: RequestGuard limits them, and BentoML's traffic timeout bounds how long one may take.
    """

    max_head_bytes = 16 * 1024
    head_timeout_s = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_timer: asyncio.TimerHandle | None = None
        self._open_head()
        self._arm_head_timer()  # a connection that never sends a byte is closed too

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._head_open:
            if self._head_timer is None:
                self._arm_head_timer()
            # Only the bytes up to the blank line ending the head count; what follows is the body.
            window = self._head_tail + data
            end = window.find(HEAD_END)
            self._head_bytes += len(data) if end < 0 else end + len(HEAD_END) - len(self._head_tail)
            self._head_tail = window[-(len(HEAD_END) - 1) :]
            if self._head_bytes > self.max_head_bytes:
                self._refuse(431, "Request Header Fields Too Large", f"the request line and headers are over "
                             f"{self.max_head_bytes:,} bytes (SENTIMENT_MAX_HEADER_BYTES)")  # fmt: skip
                return
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._head_open = False
        self._cancel_head_timer()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._open_head()  # the next bytes on this connection start the next request's head

    def _open_head(self) -> None:
        self._head_open = True
        self._head_bytes = 0
        self._head_tail = b""

    def _arm_head_timer(self) -> None:
        self._head_timer = self.loop.call_later(self.head_timeout_s, self._head_too_slow)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self.cycle is not None and not self.cycle.response_complete:
            self._arm_head_timer()  # a pipelined head waits while the request before it is answered
            return
        if self._head_bytes == 0:  # nothing asked, so nothing to answer (a browser's unused pre-connection)
            self.transport.close()
            return
        self._refuse(408, "Request Timeout", f"the request's headers took over {self.head_timeout_s:g} s "
                     "(SENTIMENT_HEADER_TIMEOUT_S)")  # fmt: skip

    def _refuse(self, status: int, reason: str, message: str) -> None:
        self._cancel_head_timer()
        if self.transport.is_closing():
            return
        body = message.encode()
        head = f"HTTP/1.1 {status} {reason}\r\ncontent-type: text/plain; charset=utf-8\r\n"
        head += f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
        self.transport.write(head.encode() + body)
        self.transport.close()


def guard_connections(max_head_bytes: int, head_timeout_s: float) -> None:
    """Make uvicorn's "auto" HTTP protocol, the one BentoML's workers get, GuardedHttpToolsProtocol with these limits.

    Call it in the worker before uvicorn loads its config: BentoML's worker imports the service, then builds
    uvicorn's Config and runs it, so the service module is the one place that runs early enough.
    """
    GuardedHttpToolsProtocol.max_head_bytes = max_head_bytes
    GuardedHttpToolsProtocol.head_timeout_s = head_timeout_s
    uvicorn.config.HTTP_PROTOCOLS["auto"] = f"{__name__}:{GuardedHttpToolsProtocol.__name__}"
