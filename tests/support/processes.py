"""Servers that tests and benchmarks start: a free port, a wait for a URL, and a stop that leaves no process behind.

Linux only (the process tree is read from /proc). Used by tests/conftest.py, tests/e2e, tests/image and
benchmarks/serve.py, which imports it as `tests.support.processes` from the repository root.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# What `dvc repro` needs from a clone. Without .dvcignore, what a killed stage left (`.*.partial`) and bytecode
# would enter the hashes of the folders stages depend on; without .gitignore, `git add -A` takes in mlflow.db, and
# `dvc exp` then swaps the live store's file under a reader (its connection keeps the old one).
PROJECT_FILES = (
    "dvc.yaml", "params.yaml", "deploy.yaml", "pyproject.toml", "bentofile.yaml", ".dvcignore", ".gitignore",
)  # fmt: skip
PROJECT_FOLDERS = ("pipeline", "frontend", "data/sources")
LOG_TAIL_CHARS = 3000
# After the leader has gone, how long what is left of its tree gets between SIGTERM and SIGKILL.
STRAGGLER_GRACE_S = 5.0
TICKS_PER_S = os.sysconf("SC_CLK_TCK")
# Local servers are never reached through a proxy, whatever http_proxy the shell exports.
LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class ServerNotReady(RuntimeError):
    """A server exited or did not answer in time; the message names it and ends with the tail of its log."""


@dataclass(frozen=True)
class Served:
    url: str  # http://127.0.0.1:PORT, no trailing slash
    port: int
    pid: int  # the leader: its session and process group carry the same id


@dataclass(frozen=True)
class ProcessInfo:
    """The fields of /proc/<pid>/stat that walking a tree, telling a reused pid apart and timing CPU need."""

    parent: int
    group: int
    session: int
    state: str  # "Z" (exited, not yet reaped) and "X" (dead) count as gone
    started: int  # clock ticks after boot: (pid, started) names one process even after the pid is reused
    cpu_s: float  # user + system

    @property
    def gone(self) -> bool:
        return self.state in "ZX"


def free_port() -> int:
    """A port nothing listens on now; another process may take it before the server binds it, rarely."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def copy_project(destination: Path) -> Path:
    """The files a user clones, for tests and benchmarks that run dvc itself in a scratch copy."""
    destination.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_FILES:
        shutil.copy2(REPO / name, destination / name)
    for name in PROJECT_FOLDERS:
        shutil.copytree(REPO / name, destination / name, ignore=shutil.ignore_patterns("__pycache__"))
    return destination


def process_info(pid: int) -> ProcessInfo | None:
    """None once the process has gone (or its pid never existed)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command, in parentheses, may hold spaces and ")": the fields after the last ")" start at the state.
    fields = text.rsplit(")", 1)[1].split()
    return ProcessInfo(
        parent=int(fields[1]),
        group=int(fields[2]),
        session=int(fields[3]),
        state=fields[0],
        started=int(fields[19]),
        cpu_s=(int(fields[11]) + int(fields[12])) / TICKS_PER_S,
    )


def process_table() -> dict[int, ProcessInfo]:
    table = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (info := process_info(int(entry.name))) is not None:
            table[int(entry.name)] = info
    return table


def descendants(roots: int | Iterable[int], table: dict[int, ProcessInfo]) -> set[int]:
    """The roots and every process below them, whatever group or session each moved to."""
    children: dict[int, list[int]] = {}
    for pid, info in table.items():
        children.setdefault(info.parent, []).append(pid)
    found: set[int] = set()
    pending = [roots] if isinstance(roots, int) else list(roots)
    while pending:
        pid = pending.pop()
        if pid not in found:
            found.add(pid)
            pending.extend(children.get(pid, []))
    return found & table.keys()


def tree(leader: int, reaped: bool = False) -> dict[int, int]:
    """Every live process `leader` started, as pid -> start time: those below it, and those still in its session
    or group (once the leader has exited, its orphans belong to init and only their session still names it).

    Once the leader is `reaped`, its pid may name a stranger; a session or group id is never reused while in use.
    """
    table = process_table()
    roots = {pid for pid, info in table.items() if leader in (info.session, info.group)}
    if not reaped:
        roots.add(leader)
    return {pid: table[pid].started for pid in descendants(roots, table) if not table[pid].gone}


def alive(known: dict[int, int]) -> dict[int, int]:
    """The processes of `known` still running: same pid and same start time, so a reused pid is never signalled."""
    left = {}
    for pid, started in known.items():
        info = process_info(pid)
        if info is not None and info.started == started and not info.gone:
            left[pid] = started
    return left


def signal_group(group: int, signum: int) -> None:
    """Signal a process group, never this process's own, and not mind if it has gone."""
    if group != os.getpgrp():
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signum)


def signal_each(processes: dict[int, int], signum: int) -> None:
    """Signal every process of `processes` still running, and the group each leads."""
    for pid in alive(processes):
        with suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signum)
        info = process_info(pid)
        if info is not None and info.group == pid:
            signal_group(pid, signum)


def wait_gone(processes: dict[int, int], timeout_s: float) -> dict[int, int]:
    """Wait until none of `processes` runs, or the timeout; returns those still running."""
    deadline = time.monotonic() + timeout_s
    while (left := alive(processes)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def stop_tree(process: subprocess.Popen, grace_s: float = 20) -> None:
    """SIGTERM the leader's process group, wait up to `grace_s`, SIGKILL it; then SIGTERM, wait and SIGKILL every
    process of its tree still running in a group or session of its own.

    The group alone is not enough: BentoML's supervisor (circus) starts each worker in a new session, and a worker
    whose parent was killed is handed to init. So the tree is read before the first signal and again while the
    leader shuts down, and each process is known by pid and start time. It may have exited already.
    """

    def family() -> dict[int, int]:
        return tree(process.pid, reaped=process.returncode is not None)

    known = family()
    signal_group(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while process.poll() is None and time.monotonic() < deadline:
        known |= family()  # workers started while it shuts down
        time.sleep(0.05)
    if process.poll() is None:
        known |= family()
        signal_group(process.pid, signal.SIGKILL)
        process.wait()
    known |= family()  # orphans still in its session or group
    stragglers = alive(known)
    if stragglers:
        signal_each(stragglers, signal.SIGTERM)
        stragglers = wait_gone(stragglers, min(grace_s, STRAGGLER_GRACE_S))
    if stragglers:
        signal_each(stragglers, signal.SIGKILL)
        wait_gone(stragglers, STRAGGLER_GRACE_S)


def log_tail(log: Path) -> str:
    try:
        return log.read_text(errors="replace")[-LOG_TAIL_CHARS:]
    except OSError as error:
        return f"(no log: {error})"


def answers(url: str, statuses: Collection[int]) -> bool:
    """Whether `url` answers with one of `statuses` now; 4xx and 5xx count when listed (a registry's 401)."""
    try:
        with LOCAL.open(url, timeout=2) as response:
            return response.status in statuses
    except urllib.error.HTTPError as error:
        error.close()
        return error.code in statuses
    except OSError:
        return False


def wait_until_ready(
    url: str,
    *,
    name: str,
    running: Callable[[], bool],
    tail: Callable[[], str],
    timeout_s: float,
    statuses: Collection[int] = (200,),
) -> None:
    """Poll `url` until it answers with one of `statuses`; raise ServerNotReady with `tail()` as soon as `running()`
    says the server has gone, or when the timeout passes."""
    deadline = time.monotonic() + timeout_s
    while not answers(url, statuses):
        if not running():
            raise ServerNotReady(f"{name} did not become ready: it exited before {url} answered\n{tail()}")
        if time.monotonic() > deadline:
            raise ServerNotReady(f"{name} did not become ready: {url} gave no answer in {timeout_s:g} s\n{tail()}")
        time.sleep(0.2)


@contextmanager
def serving(
    command: Sequence[str | os.PathLike[str]],
    *,
    port: int,
    log: Path,
    name: str | None = None,
    ready_path: str = "/readyz",
    statuses: Collection[int] = (200,),
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout_s: float = 90,
    grace_s: float = 20,
) -> Iterator[Served]:
    """Run `command`, which must listen on 127.0.0.1:`port` (pick it with free_port()), until the block ends.

    It starts in a session of its own, so its process group is its pid, with stdout and stderr in `log`. The block
    runs once `ready_path` answers; its whole process tree is stopped on the way out (stop_tree), whether the block
    failed, or the server died or never answered: then ServerNotReady carries the log's tail.
    """
    name = name or Path(command[0]).name
    with log.open("w") as handle:
        process = subprocess.Popen(
            [os.fspath(part) for part in command],
            cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=handle, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_ready(
            url + ready_path,
            name=name,
            running=lambda: process.poll() is None,
            tail=lambda: f"--- {process_exit(process)}; the end of {log}:\n{log_tail(log)}",
            timeout_s=timeout_s,
            statuses=statuses,
        )
        yield Served(url, port, process.pid)
    finally:
        stop_tree(process, grace_s)


def process_exit(process: subprocess.Popen) -> str:
    code = process.poll()
    return "still running" if code is None else f"exit code {code}"
