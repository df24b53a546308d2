"""Deploy settings, which need no AWS: params checks, the site's URL and the allowed origins."""

from __future__ import annotations

import configparser

import pytest

from pipeline.deploy.settings import DeployParams, allowed_origins, site_url
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
