"""`bentoml serve` starting and stopping as a whole: a broken model or setting ends it at once with one line, and
its workers do not outlive it."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.e2e.conftest import BIN
from tests.support.processes import alive, free_port, serving, signal_each, stop_tree, tree, wait_gone

pytestmark = pytest.mark.e2e

# Once bentoml is imported (~3 s here), the checks take well under a second; a crash-looping server never ends.
EXIT_WITHIN_S = 60


def serve_until_exit(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`bentoml serve`, expected to give up on its own: its exit code and output. One that does not is stopped with
    its whole tree after EXIT_WITHIN_S (its workers would outlive a plain kill), and the test fails."""
    command = [BIN / "bentoml", "serve", "--host", "127.0.0.1", "--port", str(free_port())]
    process = subprocess.Popen(
        command, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        stdout, stderr = process.communicate(timeout=EXIT_WITHIN_S)
    except subprocess.TimeoutExpired:
        stop_tree(process, grace_s=5)
        pytest.fail(f"bentoml serve was still running after {EXIT_WITHIN_S} s")
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def broken_store(packaged: dict[str, str], folder: Path, damage: str) -> dict[str, str]:
    """A copy of the packaged BentoML store whose model has its weights file truncated or emptied, or its model card
    cut short ("card")."""
    home = shutil.copytree(packaged["BENTOML_HOME"], folder / "bentoml")
    name, version = packaged["SENTIMENT_MODEL"].split(":")
    model = home / "models" / name / version
    if damage == "card":
        (model / "card.json").write_text('{"name": "half a card"')
        return {**packaged, "BENTOML_HOME": str(home)}
    kept = ("model.json", "model.yaml", "card.json", "model_card.md")  # the card has a case of its own
    weights = [path for path in model.iterdir() if path.name not in kept]
    assert weights, f"no weights file in {model}"
    for path in weights:
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"")
    return {**packaged, "BENTOML_HOME": str(home)}


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    """What the server printed, once BentoML's own start-up chatter is left out: one line, no traceback."""
    output = done.stdout + done.stderr
    assert "Traceback" not in output, output[-3000:]
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output[-3000:]
    return lines[0]


@pytest.mark.parametrize("damage", ["truncated", "empty"])
def test_a_broken_model_stops_the_server_with_one_line(packaged: dict[str, str], tmp_path: Path, damage: str) -> None:
    """Its workers crash-looped instead: 18 tracebacks in 30 s, never ready, never exiting (issue: hardening, 2)."""
    done = serve_until_exit(broken_store(packaged, tmp_path, damage))
    assert done.returncode == 1
    assert "are unreadable" in one_error_line(done)


def test_a_broken_model_card_stops_the_server_with_one_line(packaged: dict[str, str], tmp_path: Path) -> None:
    done = serve_until_exit(broken_store(packaged, tmp_path, "card"))
    assert done.returncode == 1
    assert "card.json is not a model card (JSONDecodeError" in one_error_line(done)


def test_a_bad_setting_stops_the_server_with_one_line(packaged: dict[str, str]) -> None:
    """SENTIMENT_MAX_TEXT_BYTES=100kB passed start-up and health checks, then answered every request 400."""
    done = serve_until_exit({**packaged, "SENTIMENT_MAX_TEXT_BYTES": "100kB"})
    assert done.returncode == 1
    assert "SENTIMENT_MAX_TEXT_BYTES must be a whole number of bytes above 0" in one_error_line(done)


def port_closed(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


def test_workers_stop_when_bentoml_serve_is_killed(packaged: dict[str, str], tmp_path: Path) -> None:
    """kill -9 of `bentoml serve` outside a container left its workers serving on the port (issue: hardening, 6)."""
    port = free_port()
    command = [BIN / "bentoml", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with serving(command, port=port, log=tmp_path / "serve.log", name="bentoml serve", cwd=REPO, env=packaged) as up:
        family = tree(up.pid)
        workers = {pid: started for pid, started in family.items() if pid != up.pid}
        assert workers, "no worker processes found"
        try:
            os.kill(up.pid, signal.SIGKILL)
            deadline = time.monotonic() + 5
            while not port_closed(port) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert port_closed(port), "a worker still answers after its parent was killed"
            assert not wait_gone(workers, 5), "workers still running after their parent was killed"
        finally:
            signal_each(alive(workers), signal.SIGKILL)
