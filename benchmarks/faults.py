"""The fault probe of issue 15, replayed in a scratch copy of the project: what survives a train stage killed
mid-write, a corrupt model, a closed MLflow port and a slow client. Prints a table; leaves nothing running.

Run: uv run python benchmarks/faults.py [--keep]   (about three minutes on two cores; the tests' tiny corpus)
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

# Run as a script, sys.path starts at benchmarks/: put the repository root first, as `python -m benchmarks.faults`
# does, so `tests.support` imports (and benchmarks/pipeline.py cannot shadow the `pipeline` package).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.files import PARTIAL
from tests.conftest import write_tiny_nltk_data
from tests.support.processes import ServerNotReady, copy_project, free_port, serving

# The venv's own executables, so `uv run python benchmarks/faults.py` needs no activated venv.
BIN = Path(sys.executable).parent
# Two n-gram candidates: their models have a weights.npz to truncate, and the tiny corpus trains them in seconds.
CANDIDATES = ("mnb_bigram", "nbsvm_bigram")
KILLED = "mnb_bigram"
COMMAND_TIMEOUT_S = 300
SERVE_READY_S = 90
CORRUPT_SERVE_S = 30  # a server given a corrupt model should exit by now; the probe's crash-looped for minutes
SLOW_CLIENT_CAP_S = 40  # give up waiting for the server to close a slow client after this long
SECRET = "s3cret"
# What a caller of pipeline.model.load() gets from a corrupt model folder: the error's type and its message.
LOAD = """
import sys
from pathlib import Path
from pipeline.model import load
try:
    load(Path(sys.argv[1]))
    print("loaded")
except Exception as error:
    print(f"refused: {type(error).__name__}: {error}")
"""


@dataclass
class Row:
    case: str
    outcome: str
    survived: str
    seconds: float


def run(command: list[str | Path], root: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(part) for part in command], cwd=root, env=env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S
    )


def checked(command: list[str | Path], root: Path, env: dict[str, str]) -> str:
    done = run(command, root, env)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, command))} exited {done.returncode}:\n{done.stderr[-3000:]}")
    return done.stdout + done.stderr


def timed(action: Callable[[], Row]) -> Row:
    started = time.monotonic()
    row = action()
    row.seconds = time.monotonic() - started
    return row


def scratch_project(folder: Path) -> tuple[Path, dict[str, str]]:
    """A git + DVC repository holding the project, params shrunk as tests/integration/test_repro.py shrinks them."""
    root = copy_project(folder / "project")
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["train"].update(cv_folds=2, corpus_cv_folds=2)
    params["train"]["candidates"] = {name: params["train"]["candidates"][name] for name in CANDIDATES}
    params["select"]["min_value"] = 0.5
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = {key: value for key, value in os.environ.items() if not key.startswith(("MLFLOW_", "DVC_", "SENTIMENT_"))}
    env.pop("BENTOML_HOME", None)
    env.update(
        PATH=f"{BIN}{os.pathsep}{env['PATH']}",
        NLTK_DATA=str(write_tiny_nltk_data(folder / "nltk_data")),
        MLFLOW_LOGGING_LEVEL="WARNING",
        BENTOML_HOME=str(root / ".bentoml"),
        PYTHONPATH=str(root),  # `sentiment` is an editable install of this checkout: make it import the copy
        SENTIMENT_WORKERS="1",
    )
    checked(["git", "init", "-q"], root, env)
    checked([BIN / "dvc", "init", "-q"], root, env)
    return root, env


def tracked_files(root: Path) -> int:
    """Files dvc.lock records as outputs: a folder counts its files, so a fragment inside one would show."""
    stages = yaml.safe_load((root / "dvc.lock").read_text())["stages"]
    return sum(out.get("nfiles", 1) for stage in stages.values() for out in stage.get("outs", []))


def fragments(root: Path) -> list[str]:
    return sorted(
        str(path.relative_to(root)) for folder in ("models", "metrics") for path in (root / folder).rglob("*")
        if fnmatch.fnmatch(path.name, PARTIAL)
    )  # fmt: skip


def stages_that(log: str, *patterns: str) -> list[str]:
    return [name for pattern in patterns for name in re.findall(pattern, log)]


def kill_during_write(root: Path, env: dict[str, str]) -> Row:
    """SIGKILL `sentiment train` at its first rename: both outputs written beside their targets, neither moved.

    strace injects the signal, so the code under test runs unmodified, and the moment is the same every time.
    """
    case = f"(a) kill -9 of train@{KILLED} mid-write, then dvc repro"
    if shutil.which("strace") is None:
        return Row(case, "skipped: strace is not installed", "-", 0)
    shim = root.parent / "shim"
    shim.mkdir(exist_ok=True)
    renames = "rename,renameat,renameat2"
    (shim / "sentiment").write_text(
        f"#!/bin/sh\nexec strace -f -qq -o /dev/null -e trace={renames} -e inject={renames}:signal=KILL "
        f'{BIN / "sentiment"} "$@"\n'
    )
    (shim / "sentiment").chmod(0o755)
    before = tracked_files(root)
    # No bytecode written: importlib's own renames would take the signal first.
    killing = {**env, "PATH": f"{shim}{os.pathsep}{env['PATH']}", "PYTHONDONTWRITEBYTECODE": "1"}
    killed = run([BIN / "dvc", "repro", "--force", "--single-item", f"train@{KILLED}"], root, killing)
    left = fragments(root)
    if killed.returncode == 0 or not left:
        return Row(case, f"the kill missed (exit {killed.returncode}, fragments {left})", "-", 0)
    again = run([BIN / "dvc", "repro"], root, env)
    status = run([BIN / "dvc", "status", "--json"], root, env).stdout.strip()
    lock = (root / "dvc.lock").read_text()
    # "is cached": checked out from the cache as dvc.lock records it; "Restored": from the run cache.
    restored = stages_that(again.stdout, r"Stage '([^']+)' is cached", r"Restored stage '([^']+)'")
    reran = stages_that(again.stdout, r"Running stage '([^']+)'")
    still_there = fragments(root)
    outcome = (
        f"killed (exit {killed.returncode}), left {', '.join(left)}; repro exit {again.returncode}: "
        f"checked out {', '.join(restored) or 'nothing'}, ran {', '.join(reran) or 'nothing'}; "
        f"dvc.lock counts {tracked_files(root)} files (before: {before}); "
        f"fragments on disk after: {still_there or 'none'}"
    )
    untracked = ".partial" not in lock and tracked_files(root) == before and status == "{}" and "select" not in reran
    return Row(case, outcome, "yes: no fragment tracked" if untracked else "NO", 0)


def closed_tracking_port(root: Path, env: dict[str, str]) -> Row:
    case = "(c) MLFLOW_TRACKING_URI with a password, closed port: dvc repro -s select"
    kept = {
        path: path.read_bytes() for path in (root / "models" / "selected.json", root / "models/champion/model.json")
    }
    down = {**env, "MLFLOW_TRACKING_URI": f"http://alice:{SECRET}@127.0.0.1:{free_port()}"}
    started = time.monotonic()
    done = run([BIN / "dvc", "repro", "--force", "--single-item", "select"], root, down)
    seconds = time.monotonic() - started
    ours = [line for line in done.stderr.splitlines() if "sentiment select:" in line]
    survived = all(path.exists() and path.read_bytes() == content for path, content in kept.items())
    outcome = (
        f"exit {done.returncode} after {seconds:.1f} s; password printed {(done.stdout + done.stderr).count(SECRET)} "
        f"times; says: {ours[0].split('sentiment select: ', 1)[1] if ours else '(no line of ours)'}"
    )
    return Row(case, outcome, "yes: selected.json and champion unchanged" if survived else "NO: outputs lost", 0)


def slow_client(root: Path, env: dict[str, str], folder: Path) -> Row:
    """Slowloris: headers one byte a second to `bentoml serve`; does the server ever close the connection?"""
    case = "(d) slow client: headers 1 byte/s to bentoml serve"
    port = free_port()
    command = [BIN / "bentoml", "serve", "--host", "127.0.0.1", "--port", str(port)]
    try:
        with serving(command, port=port, log=folder / "serve.log", cwd=root, env=env, timeout_s=SERVE_READY_S):
            return Row(case, *dribble(port), 0)
    except ServerNotReady as error:
        return Row(case, f"the server did not start: {str(error).splitlines()[0]}", "-", 0)


def dribble(port: int) -> tuple[str, str]:
    """The request line at once, then a header one byte a second, never finished; returns (outcome, survived)."""
    started = time.monotonic()
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        connection.sendall(b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        connection.settimeout(1.0)  # also the pace: one byte, then up to a second listening for a close
        while time.monotonic() - started < SLOW_CLIENT_CAP_S:
            try:
                connection.sendall(b"a")
                sent += 1
                answer = connection.recv(4096)
            except TimeoutError:
                continue
            except OSError as error:  # reset or broken pipe: closed without an answer
                return f"closed by the server after {time.monotonic() - started:.0f} s ({error})", "yes"
            first = answer.split(b"\r\n", 1)[0].decode(errors="replace") or "no answer"
            return f"closed after {time.monotonic() - started:.0f} s, {sent} header bytes sent ({first})", "yes"
    return f"still open after {SLOW_CLIENT_CAP_S} s and {sent} header bytes: no header-read timeout", "NO"


def corrupt_model(root: Path, env: dict[str, str], folder: Path) -> Row:
    """A truncated weights.npz: loading it in Python, and serving it from the BentoML store."""
    case = "(b) truncated weights.npz: load(), then bentoml serve"
    copy = folder / "corrupt_champion"
    shutil.copytree(root / "models" / "champion", copy)
    truncate(copy / "weights.npz")
    loading = run([sys.executable, "-c", LOAD, copy], root, env)
    load_outcome = f"load(): {loading.stdout.strip() or loading.stderr.strip().splitlines()[-1]}"

    stored = next((root / ".bentoml" / "models").rglob("weights.npz"))
    truncate(stored)
    port = free_port()
    command = [BIN / "bentoml", "serve", "--host", "127.0.0.1", "--port", str(port)]
    log = folder / "corrupt_serve.log"
    started = time.monotonic()
    try:
        with serving(command, port=port, log=log, cwd=root, env=env, timeout_s=CORRUPT_SERVE_S, grace_s=5):
            serve_outcome, refused = "serve became READY with a corrupt model", False
    except ServerNotReady as error:
        exited = "exited before" in str(error)
        code = re.search(r"exit code (-?\d+)", str(error))
        serve_outcome = (
            f"serve exited (code {code[1] if code else '?'}) after {time.monotonic() - started:.0f} s"
            if exited
            else f"serve neither ready nor exited in {CORRUPT_SERVE_S} s (stopped)"
        )
        refused = exited
    tracebacks = log.read_text(errors="replace").count("Traceback")
    outcome = f"{load_outcome}; {serve_outcome}, {tracebacks} tracebacks in its log"
    clean = loading.stdout.startswith("refused") and refused and tracebacks == 0
    return Row(case, outcome, "yes: refused in one line" if clean else "refused, not cleanly" if refused else "NO", 0)


def truncate(path: Path) -> None:
    with path.open("r+b") as handle:
        handle.truncate(path.stat().st_size // 2)


def print_table(rows: list[Row]) -> None:
    width = max(len(row.case) for row in rows)
    print(f"{'case':<{width}}  {'s':>6}  survived")
    print("-" * (width + 30))
    for row in sorted(rows, key=lambda row: row.case):
        print(f"{row.case:<{width}}  {row.seconds:>6.1f}  {row.survived}")
        print(f"{'':<{width}}          {row.outcome}")


def main() -> None:
    parser = argparse.ArgumentParser(description="Replay issue 15's fault probe in a scratch copy of the project.")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder and print its path")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="faults-"))
    try:
        root, env = scratch_project(folder)
        started = time.monotonic()
        print("dvc repro of the scratch project ...", file=sys.stderr, flush=True)
        checked([BIN / "dvc", "repro"], root, env)
        print(f"  {time.monotonic() - started:.0f} s; {tracked_files(root)} files in dvc.lock", file=sys.stderr)
        rows = []
        for title, action in (
            ("kill", lambda: kill_during_write(root, env)),
            ("closed MLflow port", lambda: closed_tracking_port(root, env)),
            ("slow client", lambda: slow_client(root, env, folder)),
            ("corrupt model", lambda: corrupt_model(root, env, folder)),  # last: it damages the store
        ):
            print(f"{title} ...", file=sys.stderr, flush=True)
            rows.append(timed(action))
        print_table(rows)
    finally:
        if args.keep:
            print(f"scratch folder kept: {folder}", file=sys.stderr)
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
