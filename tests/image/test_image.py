"""`sentiment image build|push` for real: buildah builds, podman runs, skopeo and a local registry receive."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.conftest import NEGATIVE, POSITIVE
from tests.image.conftest import (
    Project,
    checked,
    container,
    private_store,
    registry,
    remove_store,
    run,
    wait_ready,
)
from tests.support.processes import free_port

pytestmark = pytest.mark.image

# Everything a training run or a test needs; none of it may ship in the serving image.
NOT_SERVING = ("mlflow", "dvc", "scikit-learn", "pytest", "matplotlib", "boto3", "moto")
MAX_IMAGE_BYTES = 400_000_000


def post(url: str, payload: dict) -> dict:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def preflight(url: str, origin: str) -> dict[str, str]:
    headers = {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    request = urllib.request.Request(url, headers=headers, method="OPTIONS")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return {key.lower(): value for key, value in response.headers.items()}
    except urllib.error.HTTPError as error:
        return {key.lower(): value for key, value in error.headers.items()}


def config_of(env: dict[str, str], reference: str) -> dict:
    """The image config as a registry would serve it (the Healthcheck is there only in Docker format)."""
    return json.loads(checked(["skopeo", "inspect", "--config", "--raw", reference], env))


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    """A refused command exits 1 with exactly one ERROR line and no traceback."""
    output = done.stdout + done.stderr
    errors = [line for line in output.splitlines() if " ERROR " in line]
    assert done.returncode == 1, output[-3000:]
    assert "Traceback" not in output and len(errors) == 1, output[-3000:]
    return errors[0]


def test_image_config_is_non_root_with_healthcheck_stop_signal_and_both_tags(project: Project, image: str) -> None:
    config = config_of(project.env, f"containers-storage:{image}")["config"]
    assert config["User"] == "bentoml"
    assert config["Healthcheck"]["Test"] == ["CMD", "/usr/local/bin/sentiment-healthcheck"]
    assert config["StopSignal"] == "SIGINT"
    assert config["Labels"]["org.opencontainers.image.revision"] == project.commit
    assert config["Labels"]["org.opencontainers.image.version"] == project.version
    by_commit = f"containers-storage:localhost/sentiment:{project.commit}"
    digests = {
        json.loads(checked(["skopeo", "inspect", ref], project.env))["Digest"]
        for ref in (by_commit, f"containers-storage:{image}")
    }
    assert len(digests) == 1, "the commit tag and the bento-version tag name different images"
    uid = checked(["podman", "run", "--rm", "--entrypoint", "id", image, "-u"], project.env).strip()
    assert uid == "1034"


def test_image_carries_only_serving_packages_and_is_small(project: Project, image: str) -> None:
    script = "import importlib.metadata as m; print('\\n'.join(d.metadata['Name'].lower() for d in m.distributions()))"
    listed = checked(["podman", "run", "--rm", "--entrypoint", "python", image, "-c", script], project.env)
    installed = set(listed.split())
    assert {"bentoml", "nltk", "numpy"} <= installed
    assert not installed & set(NOT_SERVING), installed & set(NOT_SERVING)
    folders = checked(
        ["podman", "run", "--rm", "--entrypoint", "ls", image, "/app/.venv/lib/python3.11/site-packages"], project.env
    )
    assert "sklearn" not in folders.split()
    # The compiled scorer, built on the host for CPython 3.11 on Linux x86_64, loads in the image's Python.
    load = "import sys; sys.path.insert(0, '/home/bentoml/bento/src'); import pipeline.model.ngrams._scorer"
    checked(["podman", "run", "--rm", "--entrypoint", "python", image, "-c", load], project.env)
    size = int(checked(["podman", "image", "inspect", "--format", "{{.Size}}", image], project.env))
    print(f"\nimage {image}: {size / 1e6:.0f} MB")  # noqa: T201 (the figure docs/deploy.md quotes; pytest -s shows it)
    assert size <= MAX_IMAGE_BYTES, f"the image is {size / 1e6:.0f} MB"


def test_image_serves_the_champion_with_port_and_cors_from_the_environment(project: Project, image: str) -> None:
    port, origin = free_port(), "http://127.0.0.1:9"
    settings = ("-e", f"BENTOML_PORT={port}", "-e", "SENTIMENT_WORKERS=1", "-e", f"SENTIMENT_CORS_ORIGINS={origin}")
    with container(project.env, image, options=settings) as identifier:
        url = wait_ready(project.env, identifier, port)
        positive = post(f"{url}/predict", {"text": f"A {POSITIVE[0]}, {POSITIVE[1]} and {POSITIVE[2]} film."})
        negative = post(f"{url}/predict", {"text": f"{NEGATIVE[0]}, {NEGATIVE[1]}, an {NEGATIVE[2]} {NEGATIVE[3]}."})
        packaged = json.loads((project.folder / "models" / "bento.json").read_text())["model"]
        assert positive["label"] == "positive" and positive["model"] == packaged
        assert negative["label"] == "negative"
        assert preflight(f"{url}/predict", origin).get("access-control-allow-origin") == origin
        assert "access-control-allow-origin" not in preflight(f"{url}/predict", "http://127.0.0.1:10")
        health = run(["podman", "healthcheck", "run", identifier], project.env)
        assert health.returncode == 0, health.stdout + health.stderr
        started = time.monotonic()
        checked(["podman", "stop", "--time", "30", identifier], project.env)
        # The image's STOPSIGNAL shuts BentoML down at once, well before podman's timeout and SIGKILL.
        assert time.monotonic() - started < 10


def test_image_takes_the_port_from_the_serve_command(project: Project, image: str) -> None:
    port = free_port()
    with container(
        project.env, image, "serve", "--port", str(port), options=("-e", "SENTIMENT_WORKERS=1")
    ) as identifier:
        url = wait_ready(project.env, identifier, port)
        assert post(f"{url}/predict", {"text": POSITIVE[3]})["label"] == "positive"
        health = run(["podman", "healthcheck", "run", identifier], project.env)
        assert health.returncode == 0, health.stdout + health.stderr


def test_push_to_a_registry_and_pull_back(project: Project, image: str, tmp_path: Path) -> None:
    with registry(tmp_path / "registry") as host:
        done = project.sentiment("image", "push", "--registry", host, "--insecure")
        assert done.returncode == 0, done.stderr[-3000:]
        for tag in (project.version, project.commit):
            remote = json.loads(
                checked(["skopeo", "inspect", "--tls-verify=false", f"docker://{host}/sentiment:{tag}"], project.env)
            )
            assert remote["Labels"]["org.opencontainers.image.revision"] == project.commit
        # Pull into a store of its own, so the image really travels back.
        elsewhere = private_store(tmp_path / "elsewhere", project.env)
        checked(["podman", "pull", "--quiet", "--tls-verify=false", f"{host}/sentiment:{project.commit}"], elsewhere)
        pulled = checked(
            ["podman", "image", "inspect", "--format", "{{.Id}}", f"{host}/sentiment:{project.commit}"], elsewhere
        )
        local = checked(["podman", "image", "inspect", "--format", "{{.Id}}", image], project.env)
        assert pulled.strip() == local.strip()
        remove_store(tmp_path / "elsewhere")


@pytest.mark.usefixtures("image")
def test_push_with_credentials_from_the_environment(project: Project, tmp_path: Path) -> None:
    with registry(tmp_path / "registry", users={"ci": "correct horse"}) as host:
        push = ("image", "push", "--registry", host, "--insecure", "--username", "ci")
        wrong = project.sentiment(*push, env={**project.env, "SENTIMENT_REGISTRY_PASSWORD": "battery staple"})
        assert f"{host} refused user 'ci'" in one_error_line(wrong)
        unset = project.sentiment(*push)
        assert "set SENTIMENT_REGISTRY_PASSWORD" in one_error_line(unset)
        right = project.sentiment(*push, env={**project.env, "SENTIMENT_REGISTRY_PASSWORD": "correct horse"})
        assert right.returncode == 0, right.stderr[-3000:]
        inspect = ["skopeo", "inspect", "--tls-verify=false", "--creds", "ci:correct horse"]
        checked([*inspect, f"docker://{host}/sentiment:{project.commit}"], project.env)


@pytest.mark.usefixtures("image")
def test_ecr_push_creates_the_repository_once_and_logs_in_with_its_token(
    project: Project, moto_endpoint: str, tmp_path: Path
) -> None:
    import boto3

    aws = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    settings = yaml.safe_load((project.folder / "deploy.yaml").read_text())
    settings["image"].update(region="us-east-1", endpoint_url=moto_endpoint)
    (tmp_path / "deploy.yaml").write_text(yaml.safe_dump(settings))
    ecr = boto3.client("ecr", region_name="us-east-1", endpoint_url=moto_endpoint, aws_access_key_id="testing",
                       aws_secret_access_key="testing")  # fmt: skip
    token = base64.b64decode(ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]).decode()
    user, _, password = token.partition(":")
    # The stand-in for ECR's registry accepts only the token's credentials: the push must have decoded them.
    with registry(tmp_path / "registry", users={user: password}) as host:
        settings_option = ("--deploy-settings", str(tmp_path / "deploy.yaml"))
        push = (*settings_option, "image", "push", "--ecr", "--registry", host, "--insecure")
        first = project.sentiment(*push, env={**project.env, **aws})
        second = project.sentiment(*push, env={**project.env, **aws})
        assert first.returncode == 0, first.stderr[-3000:]
        assert second.returncode == 0, second.stderr[-3000:]
        assert "created ECR repository sentiment" in first.stderr
        assert "ECR repository sentiment exists" in second.stderr
        inspect = ["skopeo", "inspect", "--tls-verify=false", "--creds", token]
        checked([*inspect, f"docker://{host}/sentiment:{project.version}"], project.env)
    assert [r["repositoryName"] for r in ecr.describe_repositories()["repositories"]] == ["sentiment"]


@pytest.mark.usefixtures("image")
def test_push_to_an_unreachable_registry_says_so(project: Project) -> None:
    done = project.sentiment("image", "push", "--registry", f"127.0.0.1:{free_port()}", "--insecure")
    assert "is unreachable" in one_error_line(done)


def test_build_without_a_builder_says_which_to_install(project: Project, tmp_path: Path) -> None:
    # Only git on PATH: no docker, buildah or podman.
    (tmp_path / "bin").mkdir()
    os.symlink(checked(["sh", "-c", "command -v git"], project.env).strip(), tmp_path / "bin" / "git")
    done = project.sentiment("image", "build", env={**project.env, "PATH": str(tmp_path / "bin")})
    assert "no image builder found: install podman or buildah" in one_error_line(done)
