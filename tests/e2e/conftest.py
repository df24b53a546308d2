"""A real `bentoml serve` process on a free port, serving a champion trained on the tiny corpus."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import REPO, train_tiny_champion
from tests.support.card import write_card
from tests.support.processes import free_port, serving

BIN = Path(sys.executable).parent
TINY_CHAMPION = "ensemble_negation_tail"
# The service's header timeout in these tests (10 s by default), so the slow-client test takes seconds.
HEADER_TIMEOUT_S = 2


@contextmanager
def bentoml_serve(env: dict[str, str], log: Path, timeout_s: float = 90) -> Iterator[str]:
    """`bentoml serve` in the repository root until /readyz answers; it and its workers are stopped on the way out."""
    port = free_port()
    command = [BIN / "bentoml", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with serving(command, port=port, log=log, name="bentoml serve", cwd=REPO, env=env, timeout_s=timeout_s) as up:
        yield up.url


class Site:
    """The front end served from another local origin, as S3 would serve it, by a real HTTP server."""

    def __init__(self, folder: Path) -> None:
        shutil.copytree(REPO / "frontend", folder)
        self.folder = folder
        handler = functools.partial(QuietHandler, directory=str(folder))
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def point_at(self, api_url: str) -> None:
        """Write config.js as deployment does."""
        (self.folder / "config.js").write_text(f'export const API_BASE_URL = "{api_url}";\n')


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture(scope="session")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Site]]:
    """Two static origins: one on the API's CORS allowlist, one not."""
    root = tmp_path_factory.mktemp("sites")
    made = {name: Site(root / name) for name in ("allowed", "denied")}
    yield made
    for site in made.values():
        site.server.shutdown()


@pytest.fixture(scope="session")
def allowed_origin(sites: dict[str, Site]) -> str:
    return sites["allowed"].origin


@pytest.fixture(scope="session")
def tiny_champion(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny corpus's champion, of the real champion's kind and features (so the compiled scorer serves it)."""
    root = tmp_path_factory.mktemp("champion")
    return train_tiny_champion(root, root / "champion", TINY_CHAMPION)


@pytest.fixture(scope="session")
def packaged(tmp_path_factory: pytest.TempPathFactory, tiny_champion: Path, allowed_origin: str) -> dict[str, str]:
    """tiny_champion in a private BentoML store; returns the server's environment."""
    root = tmp_path_factory.mktemp("serving")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SENTIMENT_", "MLFLOW_"))}
    env.update(BENTOML_HOME=str(root / "bentoml"), SENTIMENT_WORKERS="1", SENTIMENT_CORS_ORIGINS=allowed_origin)
    env["SENTIMENT_HEADER_TIMEOUT_S"] = str(HEADER_TIMEOUT_S)
    # In a child: BentoML fixes its store's location the first time a process uses it.
    # With a real model card, as select writes one: GET /model answers its summary.
    card = {key: str(path) for key, path in write_card(tiny_champion.parent, tiny_champion, TINY_CHAMPION).items()}
    selected = {
        "champion": TINY_CHAMPION, "kind": "linear_ensemble", "metric": "accuracy", "cv": {}, "test": {}, "card": card,
    }  # fmt: skip
    script = (
        "import json, sys; from pathlib import Path; from pipeline.stages.package import import_model; "
        "print(import_model(sys.argv[1], Path(sys.argv[2]), json.loads(sys.argv[3])))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, "tiny-sentiment", str(tiny_champion), json.dumps(selected)],
        env=env, capture_output=True, text=True, check=True, cwd=REPO,
    )  # fmt: skip
    env["SENTIMENT_MODEL"] = done.stdout.strip().splitlines()[-1]
    return env


@pytest.fixture(scope="session")
def service_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("logs") / "bentoml-serve.log"


@pytest.fixture(scope="session")
def service(packaged: dict[str, str], service_log: Path, sites: dict[str, Site]) -> Iterator[str]:
    with bentoml_serve(packaged, service_log) as url:
        for site in sites.values():
            site.point_at(url)
        yield url
