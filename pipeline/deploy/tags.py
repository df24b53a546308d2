"""The tags every deployed resource carries, and the test `sentiment deploy destroy` applies before deleting.

A resource is the project's when its `project` and `stage` tags name this deploy.yaml's, and its `component`
names the target that made it. Destroy deletes nothing else, so a bucket or load balancer someone made by
hand under the same name survives, and so do another stage's resources in the same account.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from pipeline.errors import PipelineError

log = logging.getLogger(__name__)

PROJECT, STAGE, COMPONENT, COMMIT = "project", "stage", "component", "git-commit"
COMPONENTS = ("ecs", "site", "lambda", "storage")


@functools.cache
def deployed_commit() -> str:
    """The commit of the code that deployed, so a resource says which code made it ("-dirty": uncommitted changes
    too); "unknown" when this package is not a git checkout (installed from a wheel)."""
    from pipeline.deploy.image import git_commit

    try:
        return git_commit(Path(__file__).resolve().parents[2])
    except PipelineError:
        return "unknown"


def project_tags(project: str, stage: str, component: str) -> dict[str, str]:
    return {PROJECT: project, STAGE: stage, COMPONENT: component, COMMIT: deployed_commit()}


def owned(tags: dict[str, str], project: str, stage: str, component: str) -> bool:
    """The commit is left out: a resource stays the project's across deploys of different commits."""
    return tags.get(PROJECT) == project and tags.get(STAGE) == stage and tags.get(COMPONENT) == component


def tag_list(tags: dict[str, str], key: str = "Key", value: str = "Value") -> list[dict[str, str]]:
    """AWS's list form; ECS spells the field names in lower case."""
    return [{key: k, value: v} for k, v in tags.items()]


def tag_dict(tags: list[dict[str, str]] | None, key: str = "Key", value: str = "Value") -> dict[str, str]:
    return {item[key]: item[value] for item in tags or []}
