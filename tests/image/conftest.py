"""The champion's OCI image, built and run without a Docker daemon; local registries and a moto ECR.

One session folder holds all container state (storage.conf, containers.conf, TMPDIR, podman's runtime
files). The Debian base (debootstrap, ~1 min) is cached in ~/.cache/sentiment-tests, keyed by its recipe.
Every registry started here is stopped with its process tree and every container by its id, even on failure;
moto runs inside this process (tests/conftest.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import train_tiny_champion
from tests.support.processes import copy_project, free_port, serving, wait_until_ready

TOOLS = ("buildah", "podman", "skopeo", "docker-registry", "debootstrap", "runc", "htpasswd", "git")
CACHE = Path.home() / ".cache" / "sentiment-tests"
# The test base stands in for python:3.11-slim (Docker Hub is out of reach): Debian's Python 3.11, and uv
# so BentoML's Dockerfile need not pip-install it. Changing any of this changes the cache key.
BASE_RECIPE = {
    "suite": "bookworm",
    "variant": "minbase",
    "packages": ["python3"],
    "trimmed": ["var/cache/apt", "var/lib/apt/lists", "usr/share/doc", "usr/share/man", "usr/share/locale"],
}
# This machine reaches the package index through a proxy that re-signs TLS, so builds from the test base
# need the machine's CA bundle. That is a fact of this network: the shipped image never carries it.
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
TIMEOUT_S = 600


def run(command: list[str], env: dict[str, str], **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=TIMEOUT_S, **kwargs)


def checked(command: list[str], env: dict[str, str], **kwargs) -> str:
    done = run(command, env, **kwargs)
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stderr[-3000:]}"
    return done.stdout


def require_tools() -> None:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        message = f"not installed: {', '.join(missing)} (apt-get install buildah podman skopeo docker-registry "
        message += "debootstrap runc apache2-utils); .ci/run installs them"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI must run these, never skip them
        pytest.skip(message)


@pytest.fixture(scope="session")
def containers_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The environment every container tool runs with: its state in this session's folder only."""
    require_tools()
    root = tmp_path_factory.mktemp("containers")
    # runc, not crun: crun fails here with "cgroups in hybrid mode not supported"; the ulimits are what this
    # sandbox allows. Podman's runtime files and event log go to the folder too, not to /run/libpod.
    (root / "containers.conf").write_text(
        "[containers]\n"
        'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n'
        "[engine]\n"
        'runtime = "runc"\n'
        f'tmp_dir = "{root / "libpod"}"\n'
        'events_logger = "file"\n'
        f'events_logfile_path = "{root / "events.log"}"\n'
    )
    outside = ("SENTIMENT_", "MLFLOW_", "AWS_", "CONTAINERS_")
    env = {key: value for key, value in os.environ.items() if not key.startswith(outside)}
    env = private_store(root, {**env, "CONTAINERS_CONF": str(root / "containers.conf")})
    yield env
    remove_store(root)


def private_store(root: Path, env: dict[str, str]) -> dict[str, str]:
    """`env` with containers-storage and TMPDIR in `root`."""
    (root / "tmp").mkdir(parents=True)
    (root / "storage.conf").write_text(
        f'[storage]\ndriver = "overlay"\ngraphroot = "{root / "storage"}"\nrunroot = "{root / "run"}"\n'
    )
    return {**env, "CONTAINERS_STORAGE_CONF": str(root / "storage.conf"), "TMPDIR": str(root / "tmp")}


def remove_store(root: Path) -> None:
    """Free the disk (images are ~0.4 GB): unmount what overlay left mounted under `root`, then delete."""
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    for mount in sorted((m for m in mounts if m.startswith(str(root))), key=len, reverse=True):
        subprocess.run(["umount", "-l", mount], check=False)
    for name in ("storage", "run", "tmp"):
        shutil.rmtree(root / name, ignore_errors=True)


def apt_mirror() -> str:
    """The Debian mirror this machine's apt uses, read at run time: no host is written in the repository."""
    for path in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        for stanza in path.read_text().split("\n\n"):
            fields = {}
            for line in stanza.splitlines():
                key, colon, value = line.partition(":")
                if colon and not line.startswith(("#", " ")):
                    fields[key.strip().lower()] = value.split()
            if "deb" in fields.get("types", []) and not any("security" in s for s in fields.get("suites", [])):
                return fields["uris"][0]
    for path in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*.list"))]:
        for line in path.read_text().splitlines() if path.exists() else []:
            words = re.sub(r"\[[^]]*\]", "", line).split()  # deb [options] URI suite components
            if len(words) >= 3 and words[0] == "deb" and "security" not in words[2]:
                return words[1]
    raise AssertionError("no Debian mirror found in /etc/apt/sources.list.d or /etc/apt/sources.list")


def uv_binary() -> Path:
    """The uv executable that runs these tests (`uv run` sets UV), not a shim script."""
    for candidate in (os.environ.get("UV"), shutil.which("uv")):
        if candidate and Path(candidate).is_file():
            with open(candidate, "rb") as handle:
                if handle.read(4) == b"\x7fELF":
                    return Path(candidate)
    raise AssertionError("no uv executable found: run the tests with `uv run pytest`")


@pytest.fixture(scope="session")
def base_image(containers_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> str:
    """A Python 3.11 base from Debian packages, imported from a cached root file system archive."""
    uv = uv_binary()
    key = hashlib.sha256(json.dumps(BASE_RECIPE, sort_keys=True).encode())
    key.update(uv.read_bytes())
    key.update(CA_BUNDLE.read_bytes())
    name = f"localhost/sentiment-test-base:{key.hexdigest()[:16]}"
    archive = CACHE / f"base-{BASE_RECIPE['suite']}-{key.hexdigest()[:16]}.tar"
    if not archive.exists():
        rootfs = tmp_path_factory.mktemp("base") / "rootfs"
        command = [
            "debootstrap",
            f"--variant={BASE_RECIPE['variant']}",
            f"--include={','.join(BASE_RECIPE['packages'])}",
        ]
        checked([*command, BASE_RECIPE["suite"], str(rootfs), apt_mirror()], containers_env)
        for trimmed in BASE_RECIPE["trimmed"]:
            shutil.rmtree(rootfs / trimmed)
            (rootfs / trimmed).mkdir()
        shutil.copy(uv, rootfs / "usr/local/bin/uv")
        (rootfs / "etc/ssl/certs").mkdir(parents=True, exist_ok=True)
        shutil.copy(CA_BUNDLE, rootfs / "etc/ssl/certs/ca-certificates.crt")
        CACHE.mkdir(parents=True, exist_ok=True)
        partial = archive.with_suffix(".partial")
        checked(["tar", "-C", str(rootfs), "-cf", str(partial), "."], containers_env)
        os.replace(partial, archive)
        shutil.rmtree(rootfs)
    changes = ["--change", f"ENV=SSL_CERT_FILE={CA_BUNDLE}", "--change", 'CMD=["python3"]']
    checked(["podman", "import", "--quiet", *changes, str(archive), name], containers_env)
    return name


@dataclass(frozen=True)
class Project:
    """A clone of the project with a tiny champion packaged into a private BentoML store."""

    folder: Path
    env: dict[str, str]
    bento: str
    commit: str

    @property
    def version(self) -> str:
        return self.bento.split(":", 1)[1]

    def sentiment(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """The CLI as a user runs it, in a child process."""
        return run([sys.executable, "-m", "pipeline.cli", *args], env or self.env, cwd=self.folder)


@pytest.fixture(scope="session")
def project(containers_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Project:
    root = tmp_path_factory.mktemp("image-project")
    folder = root / "project"
    folder.mkdir()
    copy_project(folder)  # pipeline/ holds the Dockerfile template too
    train_tiny_champion(root, folder / "models" / "champion")
    selected = {"champion": "seed_nb", "kind": "nltk_naive_bayes", "metric": "accuracy", "cv": {}, "test": {}}
    (folder / "models" / "selected.json").write_text(json.dumps({**selected, "model_dir": "models/champion"}))
    # BentoML's store stays outside the build folder (NOTES: BentoML).
    env = {**containers_env, "BENTOML_HOME": str(root / "bentoml")}
    package = [sys.executable, "-m", "pipeline.cli", "package"]
    checked([*package, "models/selected.json", "models/bento.json", "bento/sentiment.bento"], env, cwd=folder)
    git = ["git", "-c", "user.name=tests", "-c", "user.email=tests@example.invalid"]
    checked(["git", "init", "--quiet"], env, cwd=folder)
    checked([*git, "add", "--all"], env, cwd=folder)
    checked([*git, "commit", "--quiet", "--message", "the image tests' project"], env, cwd=folder)
    commit = checked(["git", "rev-parse", "--short=12", "HEAD"], env, cwd=folder).strip()
    bento = json.loads((folder / "models" / "bento.json").read_text())["bento"]
    return Project(folder, env, bento, commit)


@pytest.fixture(scope="session")
def image(project: Project, base_image: str) -> str:
    """`sentiment image build` on the test base; returns the local reference of the bento-version tag."""
    done = project.sentiment("image", "build", "--base-image", base_image)
    log = project.folder.parent / "image-build.log"
    log.write_text(done.stdout + done.stderr)
    assert done.returncode == 0, f"sentiment image build failed ({log}):\n{(done.stdout + done.stderr)[-4000:]}"
    return f"localhost/sentiment:{project.version}"


@contextmanager
def container(env: dict[str, str], image: str, *args: str, options: tuple[str, ...] = ()) -> Iterator[str]:
    """`podman run -d --network host` (a bridge would add iptables chains); removed by its id."""
    done = run(["podman", "run", "-d", "--network", "host", *options, image, *args], env)
    assert done.returncode == 0, done.stderr[-2000:]
    identifier = done.stdout.strip().splitlines()[-1]
    try:
        yield identifier
    finally:
        run(["podman", "rm", "--force", "--time", "5", identifier], env)


def wait_ready(env: dict[str, str], identifier: str, port: int, timeout_s: float = 120) -> str:
    """Poll the container's /readyz; ServerNotReady with its logs once it stops running or the timeout passes."""
    url = f"http://127.0.0.1:{port}"

    def running() -> bool:
        return run(["podman", "inspect", "--format", "{{.State.Running}}", identifier], env).stdout.strip() == "true"

    def logs() -> str:
        done = run(["podman", "logs", identifier], env)
        return (done.stdout + done.stderr)[-3000:]

    wait_until_ready(f"{url}/readyz", name=f"container on {port}", running=running, tail=logs, timeout_s=timeout_s)
    return url


@contextmanager
def registry(folder: Path, users: dict[str, str] | None = None) -> Iterator[str]:
    """Debian's docker-registry on 127.0.0.1 and a free port, storage in `folder`, htpasswd auth if `users`.

    Yields HOST:PORT; the server is stopped with its process tree."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = {
        "version": 0.1,
        "log": {"level": "warn"},
        "storage": {"filesystem": {"rootdirectory": str(folder / "data")}},
        "http": {"addr": f"127.0.0.1:{port}"},
    }
    if users:
        lines = [
            checked(["htpasswd", "-Bbn", user, password], dict(os.environ)).strip() for user, password in users.items()
        ]
        (folder / "htpasswd").write_text("\n".join(lines) + "\n")
        config["auth"] = {"htpasswd": {"realm": "tests", "path": str(folder / "htpasswd")}}
    (folder / "config.yml").write_text(json.dumps(config))  # JSON is YAML
    command = ["docker-registry", "serve", folder / "config.yml"]
    log = folder / "registry.log"
    # Up once /v2/ answers: 200, or 401 when it asks for credentials.
    with serving(command, port=port, log=log, name="registry", ready_path="/v2/", statuses=(200, 401), timeout_s=30):
        yield f"127.0.0.1:{port}"
