"""The guarded uvicorn protocol on a real uvicorn server in a thread: head size and head time are bounded, bodies and
kept-alive connections are not disturbed."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from starlette.types import Receive, Scope, Send

from pipeline.serving.connections import GuardedHttpToolsProtocol, guard_connections
from tests.support.processes import free_port
from tests.support.raw_http import read_until_closed, send_until_answered

TIMEOUT_S = 0.5


class Quick(GuardedHttpToolsProtocol):
    max_head_bytes = 1024
    head_timeout_s = TIMEOUT_S


async def echo_length(scope: Scope, receive: Receive, send: Send) -> None:
    """Reads the body and answers with its length."""
    assert scope["type"] == "http"
    size, more = 0, True
    while more:
        message = await receive()
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    body = str(size).encode()
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", str(len(body)).encode())]}
    )
    await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    number = free_port()
    config = uvicorn.Config(echo_length, host="127.0.0.1", port=number, http=Quick, lifespan="off", log_level="error")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    yield number
    server.should_exit = True
    thread.join(10)


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def request(path: str = "/", body: bytes = b"", extra: str = "") -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    return head.encode() + body


def test_a_body_bigger_than_the_head_limit_and_a_second_request_on_the_connection_pass(port: int) -> None:
    with connect(port) as connection:
        connection.sendall(request(body=b"x" * 100_000))
        first = connection.recv(65536)
        connection.sendall(request(body=b"ok", extra="Connection: close\r\n"))
        second = read_until_closed(connection)
    assert first.startswith(b"HTTP/1.1 200") and first.endswith(b"100000")
    assert second.startswith(b"HTTP/1.1 200") and second.endswith(b"2")


@pytest.mark.parametrize("pieces", [1, 40], ids=["at once", "in pieces"])
def test_a_head_over_the_limit_gets_431_and_the_connection_closes(port: int, pieces: int) -> None:
    head = request(extra="X-Padding: " + "a" * 2000 + "\r\n")
    size = -(-len(head) // pieces)
    with connect(port) as connection:
        reply = send_until_answered(
            connection, [head[start : start + size] for start in range(0, len(head), size)], 0.01
        )
    assert reply.startswith(b"HTTP/1.1 431") and b"SENTIMENT_MAX_HEADER_BYTES" in reply


def test_a_head_sent_slowly_gets_408_and_the_connection_closes_in_time(port: int) -> None:
    """Slowloris: a header line every 0.1 s would have held the connection open for as long as the client liked."""
    lines = [b"GET / HTTP/1.1\r\nHost: x\r\n"] + [f"X-Slow-{number}: y\r\n".encode() for number in range(50)]
    with connect(port) as connection:
        started = time.monotonic()
        reply = send_until_answered(connection, lines)
        elapsed = time.monotonic() - started
    assert reply.startswith(b"HTTP/1.1 408") and b"SENTIMENT_HEADER_TIMEOUT_S" in reply
    # The server's clock starts when it accepts, a moment before ours: 0.4998 s was seen once.
    assert TIMEOUT_S - 0.05 <= elapsed < TIMEOUT_S + 1


def test_a_connection_that_sends_nothing_is_closed_without_an_answer(port: int) -> None:
    """No 408 there: a browser's unused pre-connection must not find an answer to a request it never sent."""
    with connect(port) as connection:
        started = time.monotonic()
        reply = read_until_closed(connection)
    assert reply == b"" and time.monotonic() - started < TIMEOUT_S + 1


def test_guard_connections_makes_uvicorns_auto_protocol_the_guarded_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """BentoML's workers build uvicorn's Config with http="auto"; if uvicorn stops reading this table, this fails."""
    monkeypatch.setattr(uvicorn.config, "HTTP_PROTOCOLS", dict(uvicorn.config.HTTP_PROTOCOLS))
    monkeypatch.setattr(GuardedHttpToolsProtocol, "max_head_bytes", GuardedHttpToolsProtocol.max_head_bytes)
    monkeypatch.setattr(GuardedHttpToolsProtocol, "head_timeout_s", GuardedHttpToolsProtocol.head_timeout_s)
    guard_connections(2048, 3.0)
    config = uvicorn.Config(echo_length)
    config.load()
    assert config.http_protocol_class is GuardedHttpToolsProtocol
    assert (GuardedHttpToolsProtocol.max_head_bytes, GuardedHttpToolsProtocol.head_timeout_s) == (2048, 3.0)
