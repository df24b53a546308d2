"""Deploy settings, which need no AWS: params checks, the site's URL and the allowed origins."""

from __future__ import annotations

import configparser
import re

import pytest

from pipeline.deploy.settings import DeployParams, allowed_origins, site_url
from pipeline.errors import PipelineError
from pipeline.params import load_section, parse
from tests.conftest import REPO


def test_the_repositorys_settings_load_and_the_dvc_remote_is_the_storage_bucket() -> None:
    """.dvc/config cannot read deploy.yaml, so the bucket has two homes: this keeps them equal."""
    p = load_section(DeployParams, "deploy", REPO / "deploy.yaml")
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
        ({"cpu_units": 512, "memory_mb": 512}, "deploy: Fargate has no task size of 512 CPU units with 512 MB"),
        ({"min_tasks": 3, "desired_tasks": 2}, "deploy: needs min_tasks <= desired_tasks <= max_tasks, got 3, 2, 4"),
        ({"cors_origins": ["*"]}, "deploy.cors_origins: got ['*'] (list); needs a list of origins, never '*'"),
        ({"load_balancer": "x" * 33}, "deploy.load_balancer: got 'xxx"),
        ({"cors_origins": "https://a.example"}, "deploy.cors_origins: got 'https://a.example' (str); needs a list"),
        ({"lambda_memory_mb": "512"}, "deploy.lambda_memory_mb: got '512' (str); needs a whole number from 128 to"),
    ],
)
def test_bad_deploy_settings_fail_early_naming_the_key(settings: dict[str, object], message: str) -> None:
    with pytest.raises(PipelineError, match=re.escape(f"deploy.yaml: {message}")):
        parse(DeployParams, settings, "deploy", "deploy.yaml")
