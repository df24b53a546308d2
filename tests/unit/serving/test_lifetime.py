"""A process that asked to exit with its parent stops when the parent is killed with SIGKILL (Linux)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.support.processes import REPO, process_info, stop_tree

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux's")

WORKER = """
import os, signal, sys, time
from pipeline.serving.lifetime import exit_with_parent
parent = os.getppid()
signal.signal(signal.SIGTERM, lambda *_: os._exit(15))  # as uvicorn would: a graceful stop
exit_with_parent(parent)
print(os.getpid(), flush=True)
time.sleep(60)
"""
# A stand-in for `bentoml serve`: starts one worker, reports its pid, and waits to be killed.
PARENT = f"""
import subprocess, sys, time
worker = subprocess.Popen([sys.executable, "-c", {WORKER!r}], stdout=subprocess.PIPE, text=True)
print(worker.stdout.readline().strip(), flush=True)
time.sleep(60)
"""


def test_a_worker_stops_when_its_parent_is_killed() -> None:
    """kill -9 of `bentoml serve` outside a container left its workers serving (issue: hardening, finding 6)."""
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT], cwd=REPO, stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        assert parent.stdout is not None
        worker = int(parent.stdout.readline())
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 5
        while (info := process_info(worker)) is not None and not info.gone and time.monotonic() < deadline:
            time.sleep(0.05)
        assert info is None or info.gone, "the worker outlived its parent"
    finally:
        stop_tree(parent, grace_s=2)


def test_a_worker_whose_parent_is_already_gone_stops_at_once() -> None:
    script = "import os; from pipeline.serving.lifetime import exit_with_parent; exit_with_parent(os.getppid() + 1)"
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, timeout=30)
    assert done.returncode == -signal.SIGTERM
