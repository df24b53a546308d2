"""Tags on every deployed resource and `sentiment deploy destroy`, against moto in server mode.

Beside the project's resources the tests make look-alikes by hand (similar names, or the configured name itself
without tags): destroy must delete every tagged resource and none of those.
"""

from __future__ import annotations

import io
import json
import logging
import zipfile
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from pipeline.cli import main
from pipeline.deploy.destroy import destroy, find
from pipeline.deploy.ecs import deploy_ecs
from pipeline.deploy.lambda_function import deploy_lambda
from pipeline.deploy.settings import DeployParams
from pipeline.deploy.site import deploy_site, deploy_storage
from pipeline.deploy.tags import deployed_commit
from pipeline.errors import PipelineError

pytestmark = [pytest.mark.integration, pytest.mark.aws]

REPO = Path(__file__).resolve().parents[2]
TAGGED_SERVICES = ("ecs", "elasticloadbalancing", "ec2", "s3", "lambda", "logs", "iam")


def aws(endpoint: str, service: str) -> Any:
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1")


def params(endpoint: str, **overrides: Any) -> DeployParams:
    return DeployParams(endpoint_url=endpoint, wait_poll_s=0.05, ecs_wait_timeout_s=5, **overrides)


def tiny_zip(folder: Path) -> Path:
    """moto stores a function's code without running it: any zip stands for the real one here."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return {}\n")
    path = folder / "lambda.zip"
    path.write_bytes(buffer.getvalue())
    return path


def deploy_everything(p: DeployParams, folder: Path) -> None:
    deploy_ecs(p, "sentiment", "v1", wait=False)
    deploy_lambda(p, tiny_zip(folder))
    deploy_site(p, REPO / "frontend", "http://api.example")
    deploy_storage(p)


def make_lookalikes(endpoint: str) -> dict[str, str]:
    """Resources made outside the project: similar names, and the site bucket's own name, untagged."""
    s3, elb, ec2 = aws(endpoint, "s3"), aws(endpoint, "elbv2"), aws(endpoint, "ec2")
    for bucket in ("movie-reviews-sentiment-site", "movie-reviews-sentiment-storage-old"):
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="keep.txt", Body=b"not the project's")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    subnets = [s["SubnetId"] for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]]
    group = ec2.create_security_group(GroupName="movie-reviews-sentiment-alb-manual", Description="x", VpcId=vpc)
    balancer = elb.create_load_balancer(Name="movie-reviews-sentiment-old", Subnets=subnets[:2])["LoadBalancers"][0]
    target = elb.create_target_group(Name="movie-reviews-sentiment-old", Protocol="HTTP", Port=80, VpcId=vpc)
    aws(endpoint, "logs").create_log_group(logGroupName="/ecs/movie-reviews-sentiment-old")
    aws(endpoint, "iam").create_role(RoleName="movie-reviews-sentiment-lambda-old", AssumeRolePolicyDocument="{}")
    aws(endpoint, "cloudwatch").put_metric_alarm(
        AlarmName="movie-reviews-sentiment-by-hand", MetricName="CPUUtilization", Namespace="AWS/ECS",
        Statistic="Average", Period=60, EvaluationPeriods=1, Threshold=90.0, ComparisonOperator="GreaterThanThreshold",
    )  # fmt: skip
    return {
        "group": group["GroupId"],
        "balancer": balancer["LoadBalancerArn"],
        "target_group": target["TargetGroups"][0]["TargetGroupArn"],
    }


def tagged(endpoint: str, p: DeployParams) -> list[str]:
    """Every live resource the tagging API finds with the project's tags, across services.

    ECS keeps a deleted cluster and service visible as INACTIVE for a while (AWS and moto alike): those count as gone.
    """
    api = aws(endpoint, "resourcegroupstaggingapi")
    found = api.get_resources(
        TagFilters=[{"Key": "project", "Values": [p.project]}, {"Key": "stage", "Values": [p.stage]}],
        ResourceTypeFilters=list(TAGGED_SERVICES),
    )["ResourceTagMappingList"]
    ecs = aws(endpoint, "ecs")
    clusters = ecs.describe_clusters(clusters=[p.ecs_cluster])["clusters"]
    services = ecs.describe_services(cluster=p.ecs_cluster, services=[p.ecs_service])["services"] if clusters else []
    inactive = {c["clusterArn"] for c in clusters if c["status"] == "INACTIVE"}
    inactive |= {s["serviceArn"] for s in services if s["status"] == "INACTIVE"}
    return sorted(item["ResourceARN"] for item in found if item["ResourceARN"] not in inactive)


def test_every_created_resource_carries_the_tags(moto_endpoint: str, tmp_path: Path) -> None:
    p = params(moto_endpoint)
    deploy_everything(p, tmp_path)
    expected = {"project": p.project, "stage": p.stage, "git-commit": deployed_commit()}
    assert expected["git-commit"] not in ("", "unknown")

    def check(tags: dict[str, str], component: str) -> None:
        assert tags | expected == tags and tags["component"] == component, tags

    ecs, elb = aws(moto_endpoint, "ecs"), aws(moto_endpoint, "elbv2")

    def ecs_tags(arn: str) -> dict[str, str]:
        return {t["key"]: t["value"] for t in ecs.list_tags_for_resource(resourceArn=arn)["tags"]}

    (cluster,) = ecs.describe_clusters(clusters=[p.ecs_cluster])["clusters"]
    check(ecs_tags(cluster["clusterArn"]), "ecs")
    (service,) = ecs.describe_services(cluster=p.ecs_cluster, services=[p.ecs_service])["services"]
    check(ecs_tags(service["serviceArn"]), "ecs")
    check(ecs_tags(service["taskDefinition"]), "ecs")
    arns = [b["LoadBalancerArn"] for b in elb.describe_load_balancers()["LoadBalancers"]]
    arns += [g["TargetGroupArn"] for g in elb.describe_target_groups()["TargetGroups"]]
    arns += [listener["ListenerArn"] for listener in elb.describe_listeners(LoadBalancerArn=arns[0])["Listeners"]]
    for item in elb.describe_tags(ResourceArns=arns)["TagDescriptions"]:
        check({t["Key"]: t["Value"] for t in item["Tags"]}, "ecs")
    groups = aws(moto_endpoint, "ec2").describe_security_groups(
        Filters=[{"Name": "tag:project", "Values": [p.project]}]
    )
    assert len(groups["SecurityGroups"]) == 2
    for group in groups["SecurityGroups"]:
        check({t["Key"]: t["Value"] for t in group["Tags"]}, "ecs")
    check(aws(moto_endpoint, "logs").list_tags_log_group(logGroupName=p.log_group)["tags"], "ecs")
    iam = aws(moto_endpoint, "iam")
    for role, component in ((p.ecs_execution_role, "ecs"), (p.lambda_role, "lambda")):
        check({t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=role)["Tags"]}, component)
    check(aws(moto_endpoint, "lambda").get_function(FunctionName=p.lambda_function)["Tags"], "lambda")
    s3 = aws(moto_endpoint, "s3")
    for bucket, component in ((p.site_bucket, "site"), (p.storage_bucket, "storage")):
        check({t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]}, component)


def test_destroy_all_deletes_only_the_projects_and_twice_is_a_no_op(
    moto_endpoint: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    p = params(moto_endpoint)
    lookalikes = make_lookalikes(moto_endpoint)
    deploy_everything(p, tmp_path)  # the site goes into the look-alike bucket of the same name, as it is
    before = tagged(moto_endpoint, p)
    assert len(before) >= 10, before

    settings = {"endpoint_url": moto_endpoint, "wait_poll_s": 0.05, "ecs_wait_timeout_s": 5}
    (tmp_path / "deploy.yaml").write_text(yaml.safe_dump({"deploy": settings}))
    output = tmp_path / "deploy.json"
    output.write_text(json.dumps({"ecs": {"url": "http://x"}, "site": {}, "lambda": {}, "other": {}}))
    command = ["--deploy-settings", str(tmp_path / "deploy.yaml"), "deploy", "destroy", "all", "--output", str(output)]
    caplog.set_level(logging.INFO, logger="pipeline")
    assert main([*command, "--yes", "--delete-storage"]) == 0
    assert tagged(moto_endpoint, p) == []
    assert "keeping S3 bucket movie-reviews-sentiment-site: it exists but is not tagged" in caplog.text
    assert json.loads(output.read_text()) == {"other": {}}

    # Nothing of the project's is left, service by service.
    ecs = aws(moto_endpoint, "ecs")
    assert [c["status"] for c in ecs.describe_clusters(clusters=[p.ecs_cluster])["clusters"]] in ([], ["INACTIVE"])
    assert ecs.list_task_definitions(familyPrefix=p.ecs_task_family)["taskDefinitionArns"] == []
    scaling = aws(moto_endpoint, "application-autoscaling")
    assert scaling.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"] == []
    with pytest.raises(aws(moto_endpoint, "lambda").exceptions.ResourceNotFoundException):
        aws(moto_endpoint, "lambda").get_function(FunctionName=p.lambda_function)
    roles = {r["RoleName"] for r in aws(moto_endpoint, "iam").list_roles()["Roles"]}
    assert roles == {"movie-reviews-sentiment-lambda-old"}

    # ... and everything made outside it survives, objects included.
    s3 = aws(moto_endpoint, "s3")
    assert sorted(b["Name"] for b in s3.list_buckets()["Buckets"]) == [
        "movie-reviews-sentiment-site",
        "movie-reviews-sentiment-storage-old",
    ]
    assert s3.get_object(Bucket="movie-reviews-sentiment-storage-old", Key="keep.txt")["Body"].read()
    elb = aws(moto_endpoint, "elbv2")
    assert [b["LoadBalancerArn"] for b in elb.describe_load_balancers()["LoadBalancers"]] == [lookalikes["balancer"]]
    assert [g["TargetGroupArn"] for g in elb.describe_target_groups()["TargetGroups"]] == [lookalikes["target_group"]]
    groups = aws(moto_endpoint, "ec2").describe_security_groups(GroupIds=[lookalikes["group"]])["SecurityGroups"]
    assert len(groups) == 1
    assert [g["logGroupName"] for g in aws(moto_endpoint, "logs").describe_log_groups()["logGroups"]] == [
        "/ecs/movie-reviews-sentiment-old"
    ]

    watch = aws(moto_endpoint, "cloudwatch")
    left = [a["AlarmName"] for a in watch.describe_alarms(AlarmNamePrefix="movie-reviews-sentiment-")["MetricAlarms"]]
    assert left == ["movie-reviews-sentiment-by-hand"]
    assert watch.list_dashboards()["DashboardEntries"] == []

    caplog.clear()
    assert main([*command, "--yes", "--delete-storage"]) == 0  # the second run: nothing to do
    assert "nothing to destroy" in caplog.text and "deleted" not in caplog.text


def test_storage_needs_its_flag_and_all_keeps_it_without(moto_endpoint: str, tmp_path: Path) -> None:
    p = params(moto_endpoint)
    deploy_storage(p)
    deploy_site(p, REPO / "frontend", "http://api.example")
    (tmp_path / "deploy.yaml").write_text(yaml.safe_dump({"deploy": {"endpoint_url": moto_endpoint}}))
    command = ["--deploy-settings", str(tmp_path / "deploy.yaml"), "deploy", "destroy"]
    output = ["--output", str(tmp_path / "deploy.json")]
    assert main([*command, "storage", "--yes", *output]) == 1
    assert main([*command, "all", "--yes", *output]) == 0
    buckets = [b["Name"] for b in aws(moto_endpoint, "s3").list_buckets()["Buckets"]]
    assert buckets == [p.storage_bucket]


def test_nothing_is_deleted_unless_confirmed(moto_endpoint: str, tmp_path: Path) -> None:
    p = params(moto_endpoint)
    deploy_storage(p)
    asked: list[list[str]] = []

    def refuse(doomed: list[Any]) -> bool:
        asked.append([str(item) for item in doomed])
        return False

    with pytest.raises(PipelineError, match="not confirmed"):
        destroy(p, ("storage",), refuse)
    assert asked == [[f"S3 bucket (with every object) {p.storage_bucket}"]]
    assert find(p, ("storage",))[0]  # still there
    # From the command line without a terminal and without --yes: one line, exit 1, nothing deleted.
    (tmp_path / "deploy.yaml").write_text(yaml.safe_dump({"deploy": {"endpoint_url": moto_endpoint}}))
    argv = ["--deploy-settings", str(tmp_path / "deploy.yaml"), "deploy", "destroy", "storage", "--delete-storage"]
    assert main(argv) == 1
    assert [b["Name"] for b in aws(moto_endpoint, "s3").list_buckets()["Buckets"]] == [p.storage_bucket]
