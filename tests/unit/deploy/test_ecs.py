"""The ECS image reference, which needs no AWS."""

from __future__ import annotations

import pytest

from pipeline.deploy.ecs import image_reference
from pipeline.deploy.settings import DeployParams
from pipeline.errors import PipelineError


def test_image_reference_is_ecr_unless_given_in_full() -> None:
    p = DeployParams(region="eu-west-1")
    assert image_reference(p, "sentiment", "v1", "111") == "111.dkr.ecr.eu-west-1.amazonaws.com/sentiment:v1"
    assert image_reference(p, "sentiment", "registry.example/other:v2", "111") == "registry.example/other:v2"
    with pytest.raises(PipelineError, match="not an image tag"):
        image_reference(p, "sentiment", "-bad", "111")
