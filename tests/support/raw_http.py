"""HTTP/1.1 by hand over a socket, for what clients refuse to send: chunked bodies over a limit, oversized or slow
headers. Used by tests/unit/serving/test_connections.py and tests/e2e."""

from __future__ import annotations

import socket


def read_until_closed(connection: socket.socket) -> bytes:
    reply = b""
    while chunk := connection.recv(65536):
        reply += chunk
    return reply


def send_until_answered(connection: socket.socket, pieces: list[bytes], wait_s: float = 0.1) -> bytes:
    """Send `pieces` one at a time, up to `wait_s` apart, until the server answers; then read on until it closes.

    Sending on after the server has answered and closed would reset the connection and could lose the answer.
    """
    connection.settimeout(wait_s)
    for piece in pieces:
        try:
            connection.sendall(piece)
            reply = connection.recv(65536)
        except TimeoutError:
            continue
        except (BrokenPipeError, ConnectionResetError):
            break
        connection.settimeout(5)
        return reply + read_until_closed(connection) if reply else b""
    connection.settimeout(5)
    return read_until_closed(connection)


def chunk(data: bytes) -> bytes:
    """One chunk of a body sent with Transfer-Encoding: chunked."""
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


LAST_CHUNK = b"0\r\n\r\n"
