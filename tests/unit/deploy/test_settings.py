"""The parts of pipeline/deploy.py that need no AWS: params checks, names, origins, the page's files."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest

from pipeline.deploy.ecs import image_reference
from pipeline.deploy.settings import DeployParams, allowed_origins, site_url
from pipeline.deploy.site import site_files
from pipeline.errors import PipelineError
from pipeline.params import load_section
from tests.conftest import REPO


def test_the_repositorys_params_load_and_the_dvc_remote_is_the_storage_bucket() -> None:
    """.dvc/config cannot read params.yaml, so the bucket has two homes: this keeps them equal."""
    p = load_section(DeployParams, "deploy", REPO / "params.yaml")
    config = configparser.ConfigParser()
    config.read(REPO / ".dvc" / "config")
    assert config["core"]["remote"] == "storage"
    assert config["'remote \"storage\"'"]["url"] == f"s3://{p.storage_bucket}/dvc"


@pytest.mark.parametrize(
    ("region", "endpoint"),
    [
        ("us-east-1", "s3-website-us-east-1"),
        ("eu-west-1", "s3-website-eu-west-1"),
        ("eu-central-1", "s3-website.eu-central-1"),
    ],
)
def test_site_url_follows_the_regions_website_endpoint_form(region: str, endpoint: str) -> None:
    assert site_url(DeployParams(region=region, site_bucket="page")) == f"http://page.{endpoint}.amazonaws.com"


def test_origins_are_the_params_list_then_the_site_once() -> None:
    site = "http://page.s3-website-us-east-1.amazonaws.com"
    assert allowed_origins(DeployParams(cors_origins=["https://a.example", site], site_bucket="page")) == (
        "https://a.example",
        site,
    )
    assert allowed_origins(DeployParams(cors_origins=["https://a.example"], site_bucket=None)) == ("https://a.example",)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"cpu_units": 512, "memory_mb": 512}, "no task size of 512 CPU units with 512 MB"),
        ({"min_tasks": 3, "desired_tasks": 2}, "min_tasks <= desired_tasks"),
        ({"cors_origins": ["*"]}, "'*' would let any site"),
        ({"load_balancer": "x" * 33}, "deploy.load_balancer"),
    ],
)
def test_bad_deploy_params_fail_early_naming_the_key(settings: dict[str, object], message: str) -> None:
    with pytest.raises(PipelineError, match=message.replace("*", r"\*")):
        DeployParams(**settings)


def test_image_reference_is_ecr_unless_given_in_full() -> None:
    p = DeployParams(region="eu-west-1")
    assert image_reference(p, "sentiment", "v1", "111") == "111.dkr.ecr.eu-west-1.amazonaws.com/sentiment:v1"
    assert image_reference(p, "sentiment", "registry.example/other:v2", "111") == "registry.example/other:v2"
    with pytest.raises(PipelineError, match="not an image tag"):
        image_reference(p, "sentiment", "-bad", "111")


def test_site_files_rewrite_config_js_only_and_cache_it_never(tmp_path: Path) -> None:
    for name in ("index.html", "app.js", "config.js", "style.css"):
        (tmp_path / name).write_text(f"/* {name} */")
    files = {key: (body, kind, cache) for key, body, kind, cache in site_files(tmp_path, 'http://a"b', 60)}
    assert files["config.js"] == (b'export const API_BASE_URL = "http://a\\"b";\n', "text/javascript", "no-cache")
    assert files["index.html"] == (b"/* index.html */", "text/html; charset=utf-8", "no-cache")
    assert files["style.css"] == (b"/* style.css */", "text/css", "public, max-age=60")
    (tmp_path / "index.html").unlink()
    with pytest.raises(PipelineError, match="no index.html"):
        site_files(tmp_path, "http://a", 60)
