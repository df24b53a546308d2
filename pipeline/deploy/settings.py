"""Deploy settings and the AWS plumbing every target shares: clients, errors, roles, buckets, records.

Credentials come only from the standard AWS chain (environment, ~/.aws, an instance role); nothing
here writes them anywhere. `endpoint_url` points every client at a stand-in such as moto.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from pydantic import Field, field_validator, model_validator

from pipeline.deploy.tags import owned, project_tags, tag_dict, tag_list
from pipeline.errors import PipelineError
from pipeline.files import read_json, write_json
from pipeline.params import Params

log = logging.getLogger(__name__)

T = TypeVar("T")

# Fargate's allowed task sizes: CPU units -> memory in MB (AWS docs, "Task CPU and memory").
FARGATE_SIZES = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4097, 1024)),
    1024: tuple(range(2048, 8193, 1024)),
    2048: tuple(range(4096, 16385, 1024)),
    4096: tuple(range(8192, 30721, 1024)),
}

# Regions whose website endpoint is `s3-website-<region>`; the others use `s3-website.<region>`.
DASH_WEBSITE_REGIONS = {"us-east-1", "us-west-1", "us-west-2", "eu-west-1", "ap-southeast-1",
                        "ap-southeast-2", "ap-northeast-1", "sa-east-1", "us-gov-west-1"}  # fmt: skip

ELB_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?")  # ALB and target group names


class DeployParams(Params):
    """deploy.yaml `deploy:`; each command reads it whole, so one bad value stops every target alike."""

    region: str = "us-east-1"
    # Tags on every resource a deploy creates; destroy deletes only what carries both (pipeline/deploy/tags.py).
    project: str = Field(default="movie-reviews-sentiment", min_length=1, max_length=128)
    stage: str = Field(default="dev", min_length=1, max_length=128)
    endpoint_url: str | None = None  # None: AWS itself; a URL for a local stand-in (moto)
    lambda_function: str = "movie-reviews-sentiment"
    lambda_role: str = "movie-reviews-sentiment-lambda"  # created with basic execution rights if missing
    lambda_memory_mb: int = Field(default=512, ge=128, le=10240)  # Lambda's own limits
    lambda_timeout_s: int = Field(default=15, ge=1, le=900)
    # Origins allowed to call the API from a browser, besides the S3 site's own (see allowed_origins()).
    # Not strict: a YAML list is the natural way to write it, and a tuple keeps the model frozen all through.
    cors_origins: tuple[str, ...] = Field(default=(), strict=False)
    # ECS on Fargate behind an Application Load Balancer: sentiment deploy ecs
    ecs_cluster: str = "movie-reviews-sentiment"
    ecs_service: str = "movie-reviews-sentiment"
    ecs_task_family: str = "movie-reviews-sentiment"
    ecs_execution_role: str = "movie-reviews-sentiment-ecs-execution"
    container_port: int = Field(default=3000, ge=1, le=65535)
    cpu_units: int = 512
    memory_mb: int = 1024
    desired_tasks: int = 2
    min_tasks: int = Field(default=1, ge=1)
    max_tasks: int = 4
    target_cpu_percent: float = Field(default=60.0, gt=0, le=100)
    scale_in_cooldown_s: int = Field(default=300, ge=0)
    scale_out_cooldown_s: int = Field(default=60, ge=0)
    min_healthy_percent: int = Field(default=100, ge=0, le=100)
    max_percent: int = Field(default=200, ge=100)
    health_check_grace_period_s: int = Field(default=60, ge=0)
    log_group: str = "/ecs/movie-reviews-sentiment"
    log_retention_days: int = 14
    load_balancer: str = "movie-reviews-sentiment"
    target_group: str = "movie-reviews-sentiment"
    listener_port: int = Field(default=80, ge=1, le=65535)
    # The model watched (pipeline/serving/observe.py, pipeline/deploy/monitoring.py): the share of predictions the
    # tasks log as JSON lines (CloudWatch Logs), and what the alarms `deploy ecs` makes fire on.
    prediction_log_rate: float = Field(default=0.01, ge=0, le=1)
    alarm_5xx_percent: float = Field(default=1.0, gt=0)
    alarm_p99_latency_s: float = Field(default=1.0, gt=0)
    expected_positive_rate: float = Field(default=0.5, ge=0, le=1)
    positive_rate_band: float = Field(default=0.15, gt=0, lt=1)
    alarm_topic_arn: str | None = None  # an SNS topic to notify; None: the alarms show on the dashboard only
    # How long `deploy ecs` waits for the new revision to turn stable (or be rolled back), and `deploy lambda`
    # for the function to be active and updated; how often they look.
    ecs_wait_timeout_s: int = Field(default=900, ge=0)
    lambda_wait_timeout_s: int = Field(default=300, ge=0)
    wait_poll_s: float = Field(default=15.0, gt=0)
    # The page on S3: sentiment deploy site
    site_bucket: str | None = "movie-reviews-sentiment-site"
    site_max_age_s: int = Field(default=300, ge=0)
    # DVC remote and MLflow artifacts (.dvc/config names the same bucket)
    storage_bucket: str = "movie-reviews-sentiment-storage"

    @field_validator("cors_origins")
    @classmethod
    def _no_wildcard(cls, origins: tuple[str, ...]) -> tuple[str, ...]:
        if "*" in origins:
            raise ValueError("a list of origins, never '*': '*' would let any site call the API")
        return origins

    @field_validator("load_balancer", "target_group")
    @classmethod
    def _elb_name(cls, name: str) -> str:
        if not ELB_NAME.fullmatch(name):
            raise ValueError("1-32 letters, digits or inner hyphens (an AWS load balancer or target group name)")
        return name

    @field_validator("target_group")
    @classmethod
    def _room_for_the_port(cls, name: str) -> str:
        if len(name) > 26:
            raise ValueError("at most 26 characters: the deploy appends -<container_port> (AWS allows 32)")
        return name

    @model_validator(mode="after")
    def _fits_fargate_and_scaling(self) -> DeployParams:
        """Across keys, so the message names them: no single value is wrong on its own."""
        if self.memory_mb not in FARGATE_SIZES.get(self.cpu_units, ()):
            raise ValueError(
                f"Fargate has no task size of {self.cpu_units} CPU units with {self.memory_mb} MB; "
                f"cpu_units is one of {sorted(FARGATE_SIZES)} and memory_mb one its size allows"
            )
        if not self.min_tasks <= self.desired_tasks <= self.max_tasks:
            raise ValueError(
                f"needs min_tasks <= desired_tasks <= max_tasks, got {self.min_tasks}, {self.desired_tasks}, "
                f"{self.max_tasks}"
            )
        return self

    def tags(self, component: str) -> dict[str, str]:
        return project_tags(self.project, self.stage, component)

    def owns(self, tags: dict[str, str], component: str) -> bool:
        return owned(tags, self.project, self.stage, component)


def site_url(p: DeployParams) -> str | None:
    """The bucket's website endpoint, which is also the page's origin (plain HTTP: S3 websites have no TLS)."""
    if not p.site_bucket:
        return None
    separator = "-" if p.region in DASH_WEBSITE_REGIONS else "."
    return f"http://{p.site_bucket}.s3-website{separator}{p.region}.amazonaws.com"


def allowed_origins(p: DeployParams) -> tuple[str, ...]:
    """The one list of browser origins both the ECS task and the Lambda Function URL accept."""
    site = site_url(p)
    return tuple(dict.fromkeys([*p.cors_origins, *([site] if site else [])]))


@contextmanager
def aws_errors(what: str) -> Iterator[None]:
    """Any AWS failure (refused, throttled, no credentials, unreachable) as one line naming the step."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except (BotoCoreError, ClientError) as error:
        raise PipelineError(f"{what} failed: {str(error).splitlines()[0]}") from None


def record(path: Path, target: str, values: dict[str, str]) -> None:
    """Keep what a deploy made (URLs, ARNs) in one git-ignored file, so the next target can read it."""
    data = read_json(path) if path.exists() else {}
    data[target] = values
    write_json(path, data)
    log.info("wrote %s", path)


def forget(path: Path, target: str) -> None:
    """Drop a destroyed target's record, so `deploy site` no longer finds an API that is gone."""
    if not path.exists():
        return
    data = read_json(path)
    if data.pop(target, None) is not None:
        write_json(path, data)
        log.info("removed %s from %s", target, path)


def client(p: DeployParams, service: str) -> Any:
    import boto3

    return boto3.client(service, region_name=p.region, endpoint_url=p.endpoint_url)


def matches(desired: Any, actual: Any) -> bool:
    """Whether `actual` holds every value `desired` sets: AWS adds defaults of its own (hostPort, mountPoints,
    ...) to what it describes, which are no difference."""
    if isinstance(desired, dict):
        return isinstance(actual, dict) and all(matches(value, actual.get(key)) for key, value in desired.items())
    if isinstance(desired, list):
        return (
            isinstance(actual, list)
            and len(desired) == len(actual)
            and all(matches(d, a) for d, a in zip(desired, actual, strict=True))
        )
    return desired == actual


class Plan:
    """The differences a deploy found between what exists and deploy.yaml, each made as it is found.

    Every step reads first and calls `change` only for a difference, so a second run with the same settings
    changes nothing; with `dry_run` each change is logged as "plan: ..." and not made (the reads still run, so
    the plan is this account's difference, not a list of everything).
    """

    def __init__(self, dry_run: bool) -> None:
        self.dry_run = dry_run
        self.changes: list[str] = []

    def change(self, what: str, action: Callable[[], T], placeholder: T) -> T:
        """Make one change (or, in a dry run, log it and return `placeholder` for what it would have returned)."""
        self.changes.append(what)
        if self.dry_run:
            log.info("plan: %s", what)
            return placeholder
        result = action()
        log.info("%s", what)
        return result

    def report(self, target: str) -> None:
        if not self.changes:
            log.info("%s: nothing to change, everything matches the settings", target)
        elif self.dry_run:
            log.info("%s: %d change(s) planned; nothing was changed", target, len(self.changes))


def role_arn(p: DeployParams, plan: Plan, name: str, service: str, policy_arn: str, component: str) -> str:
    """An execution role with one AWS-managed policy: for Lambda, writing its own logs; for ECS, pulling the image
    from ECR and writing logs. A role of the project's gets the policy back if someone detached it; a role that
    is not the project's (made by hand under this name) is used as it is."""
    iam = client(p, "iam")
    try:
        role = iam.get_role(RoleName=name)["Role"]
    except iam.exceptions.NoSuchEntityException:
        trust = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
        }

        def create() -> str:
            tags = tag_list(p.tags(component))
            arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust), Tags=tags)["Role"]["Arn"]
            iam.attach_role_policy(RoleName=name, PolicyArn=policy_arn)
            return arn

        return plan.change(f"create IAM role {name} with {policy_arn.rsplit('/', 1)[-1]}", create, f"<role {name}>")
    if not p.owns(tag_dict(iam.list_role_tags(RoleName=name)["Tags"]), component):
        log.warning("IAM role %s is not tagged as this project's: used as it is, and destroy keeps it", name)
        return role["Arn"]
    attached = {item["PolicyArn"] for item in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]}
    if policy_arn not in attached:
        plan.change(
            f"attach {policy_arn.rsplit('/', 1)[-1]} to IAM role {name}",
            lambda: iam.attach_role_policy(RoleName=name, PolicyArn=policy_arn),
            None,
        )
    return role["Arn"]


def ensure_bucket(p: DeployParams, plan: Plan, bucket: str, component: str) -> bool:
    """Create the bucket, tagged, when missing; an existing one keeps its tags (if it has none, destroy keeps it).

    Returns whether the bucket exists now (in a dry run, a missing bucket does not), so later steps know whether
    there is anything to read.
    """
    s3 = client(p, "s3")
    try:
        s3.head_bucket(Bucket=bucket)
        return True
    except s3.exceptions.ClientError as error:
        if error.response["Error"]["Code"] not in ("404", "NoSuchBucket"):
            raise  # 403: the name is taken by another account, or this one may not read it
    # us-east-1 refuses a LocationConstraint naming itself.
    where = {} if p.region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": p.region}}

    def create() -> bool:
        s3.create_bucket(Bucket=bucket, **where)
        s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tag_list(p.tags(component))})
        return True

    return plan.change(f"create S3 bucket {bucket} in {p.region}", create, False)


def api_url_from(output: Path) -> str | None:
    """The service URL `sentiment deploy ecs` recorded, if it ran on this machine."""
    try:
        return read_json(output)["ecs"]["url"]
    except (FileNotFoundError, KeyError, TypeError, ValueError):
        return None
