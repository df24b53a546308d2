"""A worker that outlives `bentoml serve` keeps answering on its port with nobody to stop it (kill -9 of the
supervisor outside a container left its workers serving), so each worker asks Linux to stop it with its parent."""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def exit_with_parent(parent: int) -> bool:
    """Have the kernel send this process SIGTERM, uvicorn's graceful stop, when its parent dies. `parent` is the pid
    read when the process started: if it has already gone, the kernel would never signal, so this process stops now.

    Returns False where there is no prctl (not Linux): there a worker still outlives a killed supervisor.
    """
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"prctl(PR_SET_PDEATHSIG): {os.strerror(error)}")
    if os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGTERM)
    return True
