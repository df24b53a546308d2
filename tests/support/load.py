"""A bounded HTTP load: `concurrency` clients POST one JSON body until `seconds` pass or `max_requests` are sent.

Run in a process of its own, so the load's CPU never delays what a test measures beside it (tests/e2e/test_load.py):
    python -m tests.support.load http://127.0.0.1:PORT/predict BODY_FILE --concurrency 64 --seconds 4
It prints one JSON object: the count of each status, answers missing Retry-After among the 503s, errors by type,
and latency percentiles in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from pathlib import Path

import httpx


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def drive(url: str, body: bytes, concurrency: int, seconds: float, max_requests: int) -> dict[str, object]:
    statuses: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    latencies: list[float] = []
    unpaced = 0  # 503s without Retry-After
    deadline = time.monotonic() + seconds
    sent = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    # trust_env=False: a shell's http_proxy must not route 127.0.0.1 through a proxy.
    async with httpx.AsyncClient(limits=limits, timeout=60, trust_env=False) as client:

        async def client_loop() -> None:
            nonlocal sent, unpaced
            while time.monotonic() < deadline and sent < max_requests:
                sent += 1
                started = time.perf_counter()
                try:
                    response = await client.post(url, content=body, headers={"Content-Type": "application/json"})
                except httpx.HTTPError as error:
                    errors[type(error).__name__] += 1
                    continue
                latencies.append((time.perf_counter() - started) * 1000)
                statuses[str(response.status_code)] += 1
                if response.status_code == 503 and "retry-after" not in response.headers:
                    unpaced += 1

        await asyncio.gather(*(client_loop() for _ in range(concurrency)))
    return {
        "statuses": dict(statuses),
        "unpaced_503": unpaced,
        "errors": dict(errors),
        "requests": sent,
        "latency_ms": {"p50": percentile(latencies, 0.5), "p99": percentile(latencies, 0.99)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("body", type=Path, help="a file holding the JSON body to POST")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--max-requests", type=int, default=100_000)
    args = parser.parse_args()
    summary = asyncio.run(drive(args.url, args.body.read_bytes(), args.concurrency, args.seconds, args.max_requests))
    sys.stdout.write(json.dumps(summary) + "\n")


if __name__ == "__main__":
    main()
