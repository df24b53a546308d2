"""The packaged bento as an OCI image, built and pushed without needing a Docker daemon.

Run: sentiment image build [--base-image IMAGE]; sentiment image push --ecr | --registry HOST[:PORT]
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import field_validator

from pipeline.errors import PipelineError
from pipeline.files import read_json
from pipeline.params import Params

log = logging.getLogger(__name__)

# In the order they are tried: docker only when its daemon answers; buildah and podman need no daemon.
BUILDERS = ("docker", "buildah", "podman")
# Read back from the image at push time, so the commit tag is the one the image was built from.
REVISION_LABEL = "org.opencontainers.image.revision"
VERSION_LABEL = "org.opencontainers.image.version"
# What the registry or the push tool says when it refuses the credentials.
AUTH_FAILURE = re.compile(r"unauthori[sz]ed|authentication required|\bdenied\b|\b401\b", re.I)
# BentoML 1.4.40's CLI declares --quiet twice and warns about it on every call.
QUIET_BENTOML = "ignore:The parameter --quiet is used more than once:UserWarning"
NAME_PART = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"


class ImageParams(Params):
    """deploy.yaml `image:`; where to push is a per-machine choice, so it is an option, never a setting here."""

    repository: str = "sentiment"  # the image's name, locally and in the registry
    region: str | None = None  # ECR only; None: the standard AWS chain
    endpoint_url: str | None = None  # ECR API; None: AWS itself

    @field_validator("repository")
    @classmethod
    def _image_name(cls, repository: str) -> str:
        if not re.fullmatch(f"{NAME_PART}(?:/{NAME_PART})*", repository):
            raise ValueError("an image name (lower case, a/b/c)")
        first = repository.split("/")[0]
        if "/" in repository and ("." in first or first == "localhost"):
            raise ValueError("an image name without a registry host; give the host with --registry")
        return repository


@dataclass(frozen=True)
class Registry:
    """Where to push, and as whom. `username` None: the push tool's own login (docker login, podman login)."""

    host: str  # HOST[:PORT], no scheme
    username: str | None = None
    password: str | None = None
    tls_verify: bool = True


def bento_tag(bento_json: Path) -> str:
    """The bento the package stage built last, as it wrote it to `bento_json`."""
    try:
        return read_json(bento_json)["bento"]
    except FileNotFoundError:
        raise PipelineError(f"{bento_json} not found: run `dvc repro` (its package stage builds the bento)") from None
    except (ValueError, KeyError, TypeError) as error:
        raise PipelineError(f"{bento_json} is unreadable ({error}); run `dvc repro -f package`") from None


def git_commit(folder: Path) -> str:
    """The commit to tag the image with; "-dirty" when tracked files differ from it, because then
    the bento may hold code that no commit has."""
    if shutil.which("git") is None:
        raise PipelineError("git is not installed; images are tagged with the commit they were built from")
    done = _run(["git", "rev-parse", "--short=12", "HEAD"], cwd=folder)
    if done.returncode != 0:
        raise PipelineError(f"{folder.resolve()} has no git commit to tag the image with ({_last_line(done)})")
    status = _run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=folder)
    return done.stdout.strip() + ("-dirty" if status.stdout.strip() else "")


def find_builder(requested: str | None = None) -> str:
    """The first usable builder. A docker client without a daemon is common (CI, rootless hosts), so
    docker counts only when `docker info` answers."""
    for name in [requested] if requested else BUILDERS:
        if shutil.which(name) is None:
            if requested:
                raise PipelineError(f"{name} is not installed (or not on PATH)")
            continue
        if name == "docker" and not _docker_daemon_answers():
            if requested:
                raise PipelineError("docker is installed but its daemon does not answer (docker info failed)")
            log.info("docker is installed but its daemon does not answer; trying buildah and podman")
            continue
        return name
    raise PipelineError(
        "no image builder found: install podman or buildah (no daemon needed), or docker with its daemon running"
    )


def build(p: ImageParams, bento_json: Path, base_image: str | None = None, builder: str | None = None) -> list[str]:
    """`bentoml containerize` the packaged bento as REPOSITORY:<bento version> and REPOSITORY:<commit>.

    buildah and podman get `--format docker`, or the image loses its HEALTHCHECK, and chroot isolation,
    which needs no cgroup setup. Returns the image references built.
    """
    bento = bento_tag(bento_json)
    backend = find_builder(builder)
    commit = git_commit(bento_json.parent)
    version = bento.split(":", 1)[1]
    images = [f"{p.repository}:{version}", f"{p.repository}:{commit}"]
    command = [sys.executable, "-m", "bentoml", "containerize", bento, "--backend", backend]
    for image in images:
        command += ["--image-tag", image]
    command += ["--opt", f"label={REVISION_LABEL}={commit}", "--opt", f"label={VERSION_LABEL}={version}"]
    if base_image:
        # pipeline/deploy/container/Dockerfile.template declares ARG BASE_IMAGE (default: the bento's python:3.11-slim).
        command += ["--opt", f"build-arg=BASE_IMAGE={base_image}"]
    if backend in ("buildah", "podman"):
        command += ["--opt", "format=docker", "--opt", "isolation=chroot"]
    log.info("building %s with %s from bento %s", " and ".join(images), backend, bento)
    with _scratch_folder() as scratch:
        # BentoML (1.4.40) copies the bento to a temporary folder and then refuses to read the Dockerfile
        # template from it unless that folder is inside the working directory: run it inside its TMPDIR.
        environment = {**os.environ, "TMPDIR": str(scratch), "PYTHONWARNINGS": QUIET_BENTOML}
        done = subprocess.run(command, cwd=scratch, env=environment, check=False)
    if done.returncode != 0:
        raise PipelineError(f"bentoml containerize failed with exit code {done.returncode}; its output is above")
    log.info("built %s", " and ".join(images))
    return images


def choose_registry(
    p: ImageParams,
    host: str | None,
    *,
    ecr: bool = False,
    username: str | None = None,
    password_env: str = "SENTIMENT_REGISTRY_PASSWORD",
    tls_verify: bool = True,
) -> Registry:
    """ECR (credentials from AWS; `host` overrides the endpoint the token names) or any registry at
    `host`, as `username` with the password in the environment variable `password_env`."""
    if ecr:
        registry = ecr_registry(p)
        return Registry(host or registry.host, registry.username, registry.password, tls_verify)
    if not host:
        raise PipelineError("say where to push: --registry HOST[:PORT], or --ecr")
    password = None
    if username is not None:
        password = os.environ.get(password_env)
        if not password:
            raise PipelineError(f"set {password_env} to the password of {username!r}; it is never read from arguments")
    return Registry(host, username, password, tls_verify)


def ecr_registry(p: ImageParams) -> Registry:
    """Create the ECR repository if it is missing, and log in with a token from the standard AWS chain."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    ecr = boto3.client("ecr", region_name=p.region, endpoint_url=p.endpoint_url)
    try:
        try:
            ecr.describe_repositories(repositoryNames=[p.repository])
            log.info("ECR repository %s exists", p.repository)
        except ecr.exceptions.RepositoryNotFoundException:
            try:
                ecr.create_repository(repositoryName=p.repository, imageScanningConfiguration={"scanOnPush": True})
                log.info("created ECR repository %s", p.repository)
            except ecr.exceptions.RepositoryAlreadyExistsException:
                log.info("ECR repository %s was created meanwhile", p.repository)
        data = ecr.get_authorization_token()["authorizationData"][0]
    except (BotoCoreError, ClientError) as error:
        raise PipelineError(f"ECR: {str(error).splitlines()[0]}") from None
    username, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    return Registry(urlsplit(data["proxyEndpoint"]).netloc, username, password)


def push(p: ImageParams, bento_json: Path, registry: Registry) -> list[str]:
    """Push the image of the packaged bento under its version and its commit tag. Returns the references."""
    version = bento_tag(bento_json).split(":", 1)[1]
    local = _find_local_image(f"{p.repository}:{version}")
    commit = local.labels.get(REVISION_LABEL)
    if not commit:
        raise PipelineError(f"{local.reference} has no {REVISION_LABEL} label; build it with `sentiment image build`")
    _check_reachable(registry.host)
    pushed = []
    with _scratch_folder() as scratch:
        for tag in dict.fromkeys((version, commit)):
            destination = f"{registry.host}/{p.repository}:{tag}"
            done = None
            for command in local.push_commands(destination, registry, scratch):
                done = _run(command, env=local.environment(registry, scratch))
                if done.returncode != 0:
                    break
            if done is not None and done.returncode != 0:
                reason = _last_line(done)
                if refusal := AUTH_FAILURE.search(reason):
                    who = f"user {registry.username!r}" if registry.username else f"{local.tool}'s own login"
                    raise PipelineError(f"{registry.host} refused {who}: {reason[refusal.start() :]}")
                raise PipelineError(f"pushing {destination} with {local.tool} failed: {reason}")
            log.info("pushed %s", destination)
            pushed.append(destination)
    return pushed


@dataclass(frozen=True)
class LocalImage:
    """An image in containers-storage (buildah, podman) or in Docker's daemon, and the tool that pushes it."""

    tool: str
    reference: str
    labels: dict[str, str]

    def push_commands(self, destination: str, registry: Registry, scratch: Path) -> list[list[str]]:
        """The password goes in a 0600 auth file in `scratch`, never on a command line."""
        auth = [] if registry.username is None else [_auth_file(registry, scratch)]
        if self.tool == "docker":
            return [["docker", "tag", self.reference, destination], ["docker", "push", "--quiet", destination]]
        tls = str(registry.tls_verify).lower()
        if self.tool == "skopeo":
            flags = [f"--dest-tls-verify={tls}", *(f"--dest-authfile={path}" for path in auth)]
            source = f"containers-storage:{self.reference}"
            return [["skopeo", "copy", "--quiet", *flags, source, f"docker://{destination}"]]
        flags = [f"--tls-verify={tls}", *(f"--authfile={path}" for path in auth)]
        return [[self.tool, "push", "--quiet", *flags, self.reference, f"docker://{destination}"]]

    def environment(self, registry: Registry, scratch: Path) -> dict[str, str]:
        """Docker reads credentials from DOCKER_CONFIG/config.json, so it gets a config of its own."""
        if self.tool != "docker" or registry.username is None:
            return dict(os.environ)
        _auth_file(registry, scratch, name="config.json")
        return {**os.environ, "DOCKER_CONFIG": str(scratch)}


def _find_local_image(image: str) -> LocalImage:
    """Look in containers-storage first (skopeo, buildah or podman can read it), then in Docker's daemon."""
    local = f"localhost/{image}"  # how buildah and podman name an image built without a registry host
    inspect = {
        "skopeo": ["skopeo", "inspect", f"containers-storage:{local}"],
        "buildah": ["buildah", "inspect", "--type", "image", local],
        "podman": ["podman", "image", "inspect", local],
    }
    tool = next((name for name in inspect if shutil.which(name)), None)
    if tool is not None:
        # The three share one store: what the first cannot see, the others cannot either.
        done = _run(inspect[tool])
        if done.returncode == 0:
            found = json.loads(done.stdout)
            config = found["Docker"]["config"] if tool == "buildah" else found[0] if tool == "podman" else found
            return LocalImage(tool, local, config.get("Labels") or {})
    if shutil.which("docker") and _docker_daemon_answers():
        tool = "docker"
        done = _run(["docker", "image", "inspect", image])
        if done.returncode == 0:
            return LocalImage("docker", image, json.loads(done.stdout)[0]["Config"].get("Labels") or {})
    if tool is None:
        raise PipelineError("no tool to push with: install skopeo, buildah, podman or docker")
    raise PipelineError(f"image {image} not found locally; run `sentiment image build` first")


def _auth_file(registry: Registry, scratch: Path, name: str = "auth.json") -> Path:
    path = scratch / name
    token = base64.b64encode(f"{registry.username}:{registry.password}".encode()).decode()
    path.touch(mode=0o600)
    path.write_text(json.dumps({"auths": {registry.host: {"auth": token}}}))
    return path


def _check_reachable(host: str) -> None:
    """Fail in a second with a plain reason, where a push tool would retry and then print a stack of errors."""
    parsed = urlsplit(f"//{host}")
    try:
        with socket.create_connection((parsed.hostname or host, parsed.port or 443), timeout=10):
            pass
    except OSError as error:
        raise PipelineError(f"registry {host} is unreachable: {error.strerror or error}") from None


def _docker_daemon_answers() -> bool:
    try:
        return _run(["docker", "info", "--format", "{{.ServerVersion}}"], timeout=20).returncode == 0
    except subprocess.TimeoutExpired:
        return False


@contextmanager
def _scratch_folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="sentiment-image-") as folder:
        yield Path(folder)


def _run(
    command: Sequence[str], cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float | None = None
) -> subprocess.CompletedProcess[str]:
    log.debug("running %s", " ".join(command))
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def _last_line(done: subprocess.CompletedProcess[str]) -> str:
    """A tool's last words, without the logger's `time=... level=fatal msg="..."` wrapping."""
    lines = [line.strip() for line in (done.stdout + "\n" + done.stderr).splitlines() if line.strip()]
    if not lines:
        return f"exit code {done.returncode}"
    wrapped = re.search(r'\bmsg="(.*)"', lines[-1])
    return wrapped.group(1).replace('\\"', '"') if wrapped else lines[-1]
