"""The server helper on real process trees: nothing a server started may outlive the block, however it hides."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import pytest

from tests.support.processes import PROJECT_FILES, ServerNotReady, copy_project, free_port, serving

# A worker as BentoML's supervisor starts one: in a session of its own, listening, with a child of its own, and
# deaf to SIGTERM (the ignored signal is inherited by its child), so only SIGKILL ends either.
WORKER = """
import signal, socket, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
listener = socket.create_server(("127.0.0.1", 0))
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
print(child.pid, listener.getsockname()[1], flush=True)
time.sleep(300)
"""
# A leader that dies on SIGTERM without stopping its worker, and keeps a helper in its own group.
LEADER = """
import http.server, json, subprocess, sys
port, record, worker_code = int(sys.argv[1]), sys.argv[2], sys.argv[3]
worker = subprocess.Popen([sys.executable, "-c", worker_code], stdout=subprocess.PIPE, text=True,
                          start_new_session=True)
grandchild, worker_port = map(int, worker.stdout.readline().split())
helper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
pids = {"worker": worker.pid, "grandchild": grandchild, "helper": helper.pid}
with open(record, "w") as handle:
    json.dump({"pids": pids, "worker_port": worker_port}, handle)

class Ready(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/readyz" else 404)
        self.end_headers()

    def log_message(self, *args):
        pass

print("serving", flush=True)
http.server.HTTPServer(("127.0.0.1", port), Ready).serve_forever()
"""


def running(pid: int) -> bool:
    """Read from /proc here, not through the module under test; a zombie has exited (PID 1 may never reap it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in "ZX"


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_the_whole_tree_is_stopped_even_workers_that_left_the_group_and_ignore_sigterm(tmp_path: Path) -> None:
    port, record = free_port(), tmp_path / "pids.json"
    command = [sys.executable, "-c", LEADER, str(port), str(record), WORKER]
    with serving(command, port=port, log=tmp_path / "tree.log", grace_s=0.5) as served:
        assert served.url == f"http://127.0.0.1:{port}"
        started = json.loads(record.read_text())
        pids = [served.pid, *started["pids"].values()]
        assert all(running(pid) for pid in pids)
        assert listening(port) and listening(started["worker_port"])
    assert [pid for pid in pids if running(pid)] == []
    assert not listening(port) and not listening(started["worker_port"])


def test_a_server_that_exits_is_named_with_its_exit_code_and_log(tmp_path: Path) -> None:
    command = [sys.executable, "-c", "print('no model named tiny:abc'); raise SystemExit(3)"]
    with pytest.raises(ServerNotReady, match=r"toy server did not become ready: it exited") as failure:
        with serving(command, port=free_port(), log=tmp_path / "exits.log", name="toy server"):
            pytest.fail("the block must not run")
    assert "exit code 3" in str(failure.value) and "no model named tiny:abc" in str(failure.value)


def test_a_server_that_never_answers_is_stopped_after_the_timeout(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    script = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); print('warming up', flush=True)"
    command = [sys.executable, "-c", script + "; time.sleep(300)"]
    with pytest.raises(ServerNotReady, match=r"gave no answer in 1 s") as failure:
        with serving(command, port=free_port(), log=tmp_path / "silent.log", timeout_s=1, grace_s=1):
            pytest.fail("the block must not run")
    assert "warming up" in str(failure.value)
    assert not running(int(pid_file.read_text()))


def test_a_failing_block_still_stops_the_server(tmp_path: Path) -> None:
    port, record = free_port(), tmp_path / "pids.json"
    command = [sys.executable, "-c", LEADER, str(port), str(record), WORKER]
    with pytest.raises(KeyError), serving(command, port=port, log=tmp_path / "tree.log", grace_s=0.5) as served:
        pids = [served.pid, *json.loads(record.read_text())["pids"].values()]
        raise KeyError("the test's own failure")
    assert [pid for pid in pids if running(pid)] == []


def test_copy_project_holds_what_dvc_repro_needs_without_bytecode(tmp_path: Path) -> None:
    copy = copy_project(tmp_path / "project")
    assert all((copy / name).is_file() for name in PROJECT_FILES)
    assert (copy / "pipeline" / "cli.py").is_file() and (copy / "frontend" / "index.html").is_file()
    assert not list(copy.rglob("__pycache__"))
