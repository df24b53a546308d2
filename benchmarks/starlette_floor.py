"""Bare Starlette apps for benchmarks/serve.py: the floor under any Python ASGI service on these cores.

Run: FLOOR_MODEL_DIR=models/champion uvicorn --workers 2 --no-access-log \
--http benchmarks.starlette_floor:NoDelayHttpToolsProtocol --factory benchmarks.starlette_floor:model_app
"""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

CONSTANT = b'{"label":"positive","score":0.5,"model":"constant"}'


class NoDelayHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol (the one BentoML's workers pick, as httptools is installed) with
    TCP_NODELAY on each accepted socket.

    With --workers, uvicorn binds a socket whose proto is 0, so asyncio does not set TCP_NODELAY on the
    connections it accepts (uvicorn issue 3149): a response written as headers then body then waits ~40 ms
    for the client's delayed ACK. BentoML's workers get TCP_NODELAY; a fair floor needs it too.
    """

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)


async def readyz(_: Request) -> Response:
    return PlainTextResponse("ok\n")


def model_app() -> Starlette:
    """The API shape of pipeline/service.py with nothing around it: parse JSON, call the model, answer JSON."""
    from pipeline.model import load

    model = load(Path(os.environ["FLOOR_MODEL_DIR"]))
    tag = f"floor:{model.kind}"

    def answer(texts: list[str]) -> list[dict[str, object]]:
        answers = []
        for probabilities in model.predict_proba(texts):
            label = max(probabilities, key=probabilities.__getitem__)
            answers.append({"label": label, "score": probabilities[label], "model": tag})
        return answers

    async def predict(request: Request) -> Response:
        return JSONResponse(answer([(await request.json())["text"]])[0])

    async def predict_batch(request: Request) -> Response:
        return JSONResponse(answer((await request.json())["texts"]))

    return Starlette(
        routes=[
            Route("/predict", predict, methods=["POST"]),
            Route("/predict_batch", predict_batch, methods=["POST"]),
            Route("/readyz", readyz),
        ]
    )


def constant_app() -> Starlette:
    """Reads the request and answers a fixed body: the most any server on this stack could do."""

    async def predict(request: Request) -> Response:
        await request.body()
        return Response(CONSTANT, media_type="application/json")

    return Starlette(routes=[Route("/predict", predict, methods=["POST"]), Route("/readyz", readyz)])
