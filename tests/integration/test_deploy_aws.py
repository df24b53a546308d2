"""`sentiment deploy ecs|site|storage` against moto in server mode, each run twice; and a DVC remote on moto S3."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from pipeline.cli import main
from pipeline.deploy.ecs import deploy_ecs, wait_for_rollout
from pipeline.deploy.settings import DeployParams, site_url
from pipeline.deploy.site import deploy_site, deploy_storage
from pipeline.errors import PipelineError

pytestmark = [pytest.mark.integration, pytest.mark.aws]

REPO = Path(__file__).resolve().parents[2]
DVC = Path(sys.executable).parent / "dvc"
ECR_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/sentiment:v1"  # moto's account id


def params(endpoint: str, **overrides: Any) -> DeployParams:
    settings = {"cors_origins": ("http://localhost:8080",), "wait_poll_s": 0.05, "ecs_wait_timeout_s": 5} | overrides
    return DeployParams(endpoint_url=endpoint, **settings)


@pytest.fixture
def running(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto starts a service with this many running tasks (it reads the variable at create_service): the
    deploys' desired count, so their waits see a stable service."""
    monkeypatch.setenv("MOTO_ECS_SERVICE_RUNNING", "2")


def aws(endpoint: str, service: str) -> Any:
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1")


@pytest.mark.usefixtures("running")
def test_ecs_deploy_twice_creates_then_changes_nothing(moto_endpoint: str) -> None:
    p = params(moto_endpoint, desired_tasks=2, min_tasks=2, max_tasks=5, cpu_units=1024, memory_mb=2048)
    first = deploy_ecs(p, "sentiment", "v1")
    state = describe_ecs(moto_endpoint, p)
    second = deploy_ecs(p, "sentiment", "v1")
    assert (first["action"], second["action"]) == ("created", "unchanged")
    assert describe_ecs(moto_endpoint, p) == state
    assert first["url"] == second["url"] and first["url"].startswith("http://movie-reviews-sentiment-")
    assert first["image"] == ECR_IMAGE

    ecs = aws(moto_endpoint, "ecs")
    assert [c["status"] for c in ecs.describe_clusters(clusters=[p.ecs_cluster])["clusters"]] == ["ACTIVE"]
    assert len(ecs.list_clusters()["clusterArns"]) == 1
    assert second["task_definition"] == first["task_definition"]
    assert second["task_definition"].endswith(f"{p.ecs_task_family}:1")
    task = ecs.describe_task_definition(taskDefinition=second["task_definition"])["taskDefinition"]
    assert task["requiresCompatibilities"] == ["FARGATE"] and task["networkMode"] == "awsvpc"
    assert (task["cpu"], task["memory"]) == ("1024", "2048")
    assert task["executionRoleArn"].endswith(f"role/{p.ecs_execution_role}")
    (container,) = task["containerDefinitions"]
    assert container["image"] == ECR_IMAGE
    assert container["portMappings"][0]["containerPort"] == 3000
    assert container["healthCheck"]["command"] == ["CMD", "/usr/local/bin/sentiment-healthcheck"]
    assert container["logConfiguration"] == {
        "logDriver": "awslogs",
        "options": {"awslogs-group": p.log_group, "awslogs-region": "us-east-1", "awslogs-stream-prefix": "sentiment"},
    }
    assert {item["name"]: item["value"] for item in container["environment"]} == {
        "BENTOML_PORT": "3000",
        "SENTIMENT_CORS_ORIGINS": f"http://localhost:8080,{site_url(p)}",
        "SENTIMENT_PREDICTION_LOG_RATE": "0.01",
    }
    (group,) = aws(moto_endpoint, "logs").describe_log_groups(logGroupNamePrefix=p.log_group)["logGroups"]
    assert group["retentionInDays"] == p.log_retention_days
    attached = aws(moto_endpoint, "iam").list_attached_role_policies(RoleName=p.ecs_execution_role)["AttachedPolicies"]
    assert [policy["PolicyName"] for policy in attached] == ["AmazonECSTaskExecutionRolePolicy"]

    (service,) = ecs.describe_services(cluster=p.ecs_cluster, services=[p.ecs_service])["services"]
    assert service["launchType"] == "FARGATE" and service["desiredCount"] == 2
    assert service["taskDefinition"] == second["task_definition"]
    assert service["networkConfiguration"]["awsvpcConfiguration"]["assignPublicIp"] == "ENABLED"
    elb = aws(moto_endpoint, "elbv2")
    (target_group,) = elb.describe_target_groups(Names=[f"{p.target_group}-3000"])["TargetGroups"]
    assert service["loadBalancers"] == [
        {"targetGroupArn": target_group["TargetGroupArn"], "containerName": p.ecs_service, "containerPort": 3000}
    ]
    # moto 5.2.5's create_service drops deploymentConfiguration; the first deploy finds that and puts it back.
    assert service["deploymentConfiguration"] == {
        "minimumHealthyPercent": 100,
        "maximumPercent": 200,
        "deploymentCircuitBreaker": {"enable": True, "rollback": True},
    }
    assert target_group["TargetType"] == "ip" and target_group["Port"] == 3000
    assert target_group["HealthCheckPath"] == "/readyz" and target_group["Matcher"] == {"HttpCode": "200"}
    (balancer,) = elb.describe_load_balancers()["LoadBalancers"]
    assert first["url"] == f"http://{balancer['DNSName']}" and balancer["Scheme"] == "internet-facing"
    (listener,) = elb.describe_listeners(LoadBalancerArn=balancer["LoadBalancerArn"])["Listeners"]
    assert (listener["Protocol"], listener["Port"]) == ("HTTP", 80)
    assert listener["DefaultActions"][0]["TargetGroupArn"] == target_group["TargetGroupArn"]
    groups = aws(moto_endpoint, "ec2").describe_security_groups(
        Filters=[{"Name": "group-name", "Values": ["movie-reviews-sentiment-alb", "movie-reviews-sentiment-tasks"]}]
    )["SecurityGroups"]
    rules = {group["GroupName"]: group["IpPermissions"] for group in groups}
    assert [(rule["FromPort"], rule["IpRanges"]) for rule in rules["movie-reviews-sentiment-alb"]] == [
        (80, [{"CidrIp": "0.0.0.0/0"}])
    ]
    (task_rule,) = rules["movie-reviews-sentiment-tasks"]  # the second run added no duplicate
    assert task_rule["FromPort"] == 3000 and task_rule["IpRanges"] == []

    scaling = aws(moto_endpoint, "application-autoscaling")
    (target,) = scaling.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"]
    assert target["ResourceId"] == f"service/{p.ecs_cluster}/{p.ecs_service}"
    assert (target["ScalableDimension"], target["MinCapacity"], target["MaxCapacity"]) == (
        "ecs:service:DesiredCount",
        2,
        5,
    )
    watch = aws(moto_endpoint, "cloudwatch")
    # Besides target tracking's own (TargetTracking-service/...), the project's four.
    alarms = {
        a["AlarmName"]: a for a in watch.describe_alarms(AlarmNamePrefix="movie-reviews-sentiment-")["MetricAlarms"]
    }
    assert sorted(alarms) == [f"movie-reviews-sentiment-{name}" for name in
                              ("5xx-rate", "p99-latency", "positive-rate", "unhealthy-hosts")]  # fmt: skip
    balancer_dimension = balancer["LoadBalancerArn"].split(":loadbalancer/")[1]
    assert balancer_dimension.startswith("app/movie-reviews-sentiment/")
    assert alarms["movie-reviews-sentiment-p99-latency"]["Dimensions"] == [
        {"Name": "LoadBalancer", "Value": balancer_dimension}
    ]
    assert alarms["movie-reviews-sentiment-p99-latency"]["ExtendedStatistic"] == "p99"
    unhealthy = alarms["movie-reviews-sentiment-unhealthy-hosts"]
    assert {d["Name"]: d["Value"] for d in unhealthy["Dimensions"]}["TargetGroup"].startswith(
        "targetgroup/movie-reviews-sentiment-3000/"
    )
    shift = alarms["movie-reviews-sentiment-positive-rate"]
    assert [m["Id"] for m in shift["Metrics"]] == ["positive", "all", "shift"]
    assert shift["Metrics"][2]["Expression"] == "ABS(positive / all - 0.5)" and shift["Threshold"] == 0.15
    filters = aws(moto_endpoint, "logs").describe_metric_filters(logGroupName=p.log_group)["metricFilters"]
    assert sorted(f["filterPattern"] for f in filters) == [
        '{ $.event = "prediction" && $.label = "positive" }',
        '{ $.event = "prediction" }',
    ]
    board = json.loads(watch.get_dashboard(DashboardName=p.ecs_service)["DashboardBody"])
    assert len(board["widgets"]) == 5 and "project movie-reviews-sentiment, stage dev" in json.dumps(board)

    (policy,) = scaling.describe_scaling_policies(ServiceNamespace="ecs")["ScalingPolicies"]
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    assert policy["PolicyType"] == "TargetTrackingScaling" and tracking["TargetValue"] == 60.0
    assert tracking["PredefinedMetricSpecification"]["PredefinedMetricType"] == "ECSServiceAverageCPUUtilization"


def describe_ecs(endpoint: str, p: DeployParams) -> dict[str, Any]:
    """What the ECS deploy made, as describe calls show it: two runs with the same settings leave it equal."""
    ecs, elb, ec2 = aws(endpoint, "ecs"), aws(endpoint, "elbv2"), aws(endpoint, "ec2")
    (service,) = ecs.describe_services(cluster=p.ecs_cluster, services=[p.ecs_service])["services"]
    balancers = elb.describe_load_balancers()["LoadBalancers"]
    scaling = aws(endpoint, "application-autoscaling")
    return {
        "service": {
            key: service.get(key)
            for key in (
                "taskDefinition",
                "loadBalancers",
                "deploymentConfiguration",
                "networkConfiguration",
                "desiredCount",
            )
        },  # fmt: skip
        "task_definitions": ecs.list_task_definitions(familyPrefix=p.ecs_task_family)["taskDefinitionArns"],
        "target_groups": [(g["TargetGroupName"], g["Port"]) for g in elb.describe_target_groups()["TargetGroups"]],
        "listeners": [
            (listener["Port"], listener["DefaultActions"][0]["TargetGroupArn"])
            for b in balancers
            for listener in elb.describe_listeners(LoadBalancerArn=b["LoadBalancerArn"])["Listeners"]
        ],
        "balancers": [b["LoadBalancerArn"] for b in balancers],
        "rules": sorted(
            (g["GroupName"], rule["FromPort"])
            for g in ec2.describe_security_groups(Filters=[{"Name": "tag:project", "Values": [p.project]}])[
                "SecurityGroups"
            ]
            for rule in g["IpPermissions"]
        ),
        "scaling": scaling.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"],
        "policies": scaling.describe_scaling_policies(ServiceNamespace="ecs")["ScalingPolicies"],
    }


@pytest.mark.usefixtures("running")
def test_port_and_cpu_changes_replace_exactly_what_they_must(moto_endpoint: str) -> None:
    p = params(moto_endpoint)
    first = deploy_ecs(p, "sentiment", "v1")
    changed = p.model_copy(update={"container_port": 8080, "listener_port": 8000, "cpu_units": 1024,
                                   "memory_mb": 2048})  # fmt: skip
    second = deploy_ecs(changed, "sentiment", "v1")
    state = describe_ecs(moto_endpoint, changed)
    assert second["action"] == "updated" and second["url"] == first["url"]
    assert second["task_definition"].endswith(":2")
    task = aws(moto_endpoint, "ecs").describe_task_definition(taskDefinition=second["task_definition"])
    assert (task["taskDefinition"]["cpu"], task["taskDefinition"]["memory"]) == ("1024", "2048")
    assert task["taskDefinition"]["containerDefinitions"][0]["portMappings"][0]["containerPort"] == 8080
    # Exactly one target group and one listener remain, on the new ports; the old rules are gone.
    ((group_name, group_port),) = state["target_groups"]
    assert (group_name, group_port) == ("movie-reviews-sentiment-8080", 8080)
    ((listener_port, forwards_to),) = state["listeners"]
    (group,) = aws(moto_endpoint, "elbv2").describe_target_groups(Names=[group_name])["TargetGroups"]
    assert listener_port == 8000 and forwards_to == group["TargetGroupArn"]
    assert state["service"]["loadBalancers"] == [
        {"targetGroupArn": group["TargetGroupArn"], "containerName": p.ecs_service, "containerPort": 8080}
    ]
    assert state["service"]["taskDefinition"] == second["task_definition"]
    assert state["rules"] == [("movie-reviews-sentiment-alb", 8000), ("movie-reviews-sentiment-tasks", 8080)]
    # ... and a third run with the same settings changes nothing.
    assert deploy_ecs(changed, "sentiment", "v1")["action"] == "unchanged"
    assert describe_ecs(moto_endpoint, changed) == state
    # A new image tag alone is a new revision too.
    assert deploy_ecs(changed, "sentiment", "v2")["task_definition"].endswith(":3")


def test_wait_times_out_in_one_line_and_exit_1(
    moto_endpoint: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Without MOTO_ECS_SERVICE_RUNNING, moto's service never runs a task: the wait must end, bounded."""
    settings = {"endpoint_url": moto_endpoint, "wait_poll_s": 0.1, "ecs_wait_timeout_s": 1}
    (tmp_path / "deploy.yaml").write_text(yaml.safe_dump({"image": {"repository": "sentiment"}, "deploy": settings}))
    caplog.set_level(logging.INFO, logger="pipeline")
    argv = ["--deploy-settings", str(tmp_path / "deploy.yaml"), "deploy", "ecs", "--image", "v1"]
    assert main([*argv, "--output", str(tmp_path / "deploy.json")]) == 1
    (error,) = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert error.getMessage().startswith(
        "sentiment deploy: ECS service movie-reviews-sentiment not stable after 1 s: 0/2 tasks running"
    )
    assert "\n" not in error.getMessage()
    progress = [r.getMessage() for r in caplog.records if r.getMessage().startswith("waiting for movie-reviews")]
    assert progress and "0/2 tasks running" in progress[0]
    assert not (tmp_path / "deploy.json").exists()


@pytest.mark.usefixtures("running")
def test_wait_reports_a_rollback(moto_endpoint: str) -> None:
    """moto never rolls a deployment back by itself: the test does what the circuit breaker does, putting the
    service back on the previous revision, and the wait must say so instead of calling the rollout stable."""
    p = params(moto_endpoint)
    deploy_ecs(p, "sentiment", "v1")
    second = deploy_ecs(p, "sentiment", "v2", wait=False)
    ecs = aws(moto_endpoint, "ecs")
    ecs.update_service(cluster=p.ecs_cluster, service=p.ecs_service, taskDefinition=f"{p.ecs_task_family}:1")
    with pytest.raises(PipelineError, match=r"rolled back to movie-reviews-sentiment:1 by the circuit breaker: "
                                            r"movie-reviews-sentiment:2 failed"):  # fmt: skip
        wait_for_rollout(p, second["task_definition"])


def _site_state(endpoint: str, bucket: str) -> dict[str, Any]:
    s3 = aws(endpoint, "s3")
    return {
        "website": {key: value for key, value in s3.get_bucket_website(Bucket=bucket).items() if "Document" in key},
        "policy": json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]),
        "block": s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"],
        "keys": sorted(item["Key"] for item in s3.list_objects_v2(Bucket=bucket)["Contents"]),
        "buckets": sorted(item["Name"] for item in s3.list_buckets()["Buckets"]),
    }


def test_site_deploy_twice_serves_the_page_publicly_with_the_api_url(
    moto_endpoint: str, caplog: pytest.LogCaptureFixture
) -> None:
    p = params(moto_endpoint, site_max_age_s=120)
    first = deploy_site(p, REPO / "frontend", "http://api.example")
    state = _site_state(moto_endpoint, p.site_bucket)
    caplog.set_level(logging.INFO, logger="pipeline")
    second = deploy_site(p, REPO / "frontend", "http://api.example")
    assert "deploy site: nothing to change" in caplog.text and "upload" not in caplog.text
    caplog.clear()
    deploy_site(p, REPO / "frontend", "http://other.example")  # a new API URL: config.js alone
    assert [r.getMessage() for r in caplog.records if r.getMessage().startswith("upload")] == [
        "upload config.js (text/javascript, Cache-Control no-cache)"
    ]
    second = deploy_site(p, REPO / "frontend", "http://api.example")
    assert first == second
    assert first == {"url": site_url(p), "bucket": p.site_bucket, "api_url": "http://api.example"}
    assert site_url(p) == "http://movie-reviews-sentiment-site.s3-website-us-east-1.amazonaws.com"
    assert _site_state(moto_endpoint, p.site_bucket) == state
    assert state["website"]["IndexDocument"] == {"Suffix": "index.html"}
    assert state["website"]["ErrorDocument"] == {"Key": "index.html"}
    assert state["policy"]["Statement"] == [
        {
            "Sid": "PublicReadObjects",
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{p.site_bucket}/*",
        }
    ]
    assert state["block"] == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": False,
        "RestrictPublicBuckets": False,
    }
    assert state["keys"] == ["app.js", "config.js", "index.html", "style.css"]
    assert state["buckets"] == [p.site_bucket]

    s3 = aws(moto_endpoint, "s3")
    headers = {key: s3.head_object(Bucket=p.site_bucket, Key=key) for key in state["keys"]}
    assert {key: head["ContentType"] for key, head in headers.items()} == {
        "app.js": "text/javascript",
        "config.js": "text/javascript",
        "index.html": "text/html; charset=utf-8",
        "style.css": "text/css",
    }
    assert {key: head["CacheControl"] for key, head in headers.items()} == {
        "app.js": "public, max-age=120",
        "config.js": "no-cache",
        "index.html": "no-cache",
        "style.css": "public, max-age=120",
    }
    # No credentials and no signature: the object is readable by anyone (moto serves it by path).
    with urllib.request.urlopen(f"{moto_endpoint}/{p.site_bucket}/config.js", timeout=10) as response:
        assert response.read().decode() == 'export const API_BASE_URL = "http://api.example";\n'
    body = s3.get_object(Bucket=p.site_bucket, Key="app.js")["Body"].read()
    assert body == (REPO / "frontend" / "app.js").read_bytes()
    # The repository's config.js is untouched: the package stage builds the bento from frontend/.
    assert 'API_BASE_URL = ""' in (REPO / "frontend" / "config.js").read_text()


@pytest.mark.usefixtures("running")
def test_cli_hands_the_ecs_url_to_the_site_and_one_origin_list_to_both(
    moto_endpoint: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = {"region": "us-east-1", "endpoint_url": moto_endpoint, "cors_origins": ["https://team.example"],
                "wait_poll_s": 0.05}  # fmt: skip
    (tmp_path / "deploy.yaml").write_text(yaml.safe_dump({"image": {"repository": "sentiment"}, "deploy": settings}))
    output = tmp_path / "build" / "deploy.json"
    common = ["--deploy-settings", str(tmp_path / "deploy.yaml"), "deploy"]
    caplog.set_level(logging.INFO, logger="pipeline")
    assert main([*common, "ecs", "--image", "abc123", "--output", str(output)]) == 0
    assert main([*common, "site", "--frontend", str(REPO / "frontend"), "--output", str(output)]) == 0
    assert main([*common, "storage", "--output", str(output)]) == 0
    recorded = json.loads(output.read_text())
    api = recorded["ecs"]["url"]
    assert recorded["site"]["api_url"] == api and f"service URL {api}" in caplog.text
    assert f"site URL {recorded['site']['url']}" in caplog.text
    assert recorded["ecs"]["image"].endswith("/sentiment:abc123")
    s3 = aws(moto_endpoint, "s3")
    config = s3.get_object(Bucket="movie-reviews-sentiment-site", Key="config.js")["Body"].read().decode()
    assert config == f'export const API_BASE_URL = "{api}";\n'
    task = aws(moto_endpoint, "ecs").describe_task_definition(taskDefinition="movie-reviews-sentiment")
    (container,) = task["taskDefinition"]["containerDefinitions"]
    environment = {item["name"]: item["value"] for item in container["environment"]}
    assert environment["SENTIMENT_CORS_ORIGINS"] == f"https://team.example,{recorded['site']['url']}"
    assert s3.get_public_access_block(Bucket="movie-reviews-sentiment-storage")["PublicAccessBlockConfiguration"] == {
        key: True for key in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
    }


def test_dry_run_reads_but_changes_nothing_and_plans_only_the_difference(
    moto_endpoint: str, caplog: pytest.LogCaptureFixture
) -> None:
    p = params(moto_endpoint)
    caplog.set_level(logging.INFO, logger="pipeline")
    assert deploy_ecs(p, "sentiment", "v1", dry_run=True) == {}
    assert deploy_site(p, REPO / "frontend", None, dry_run=True) == {}
    assert deploy_storage(p, dry_run=True) == {}
    assert aws(moto_endpoint, "ecs").list_clusters()["clusterArns"] == []
    assert aws(moto_endpoint, "s3").list_buckets()["Buckets"] == []
    assert aws(moto_endpoint, "elbv2").describe_load_balancers()["LoadBalancers"] == []
    assert aws(moto_endpoint, "iam").list_roles()["Roles"] == []
    planned = [r.getMessage() for r in caplog.records if r.getMessage().startswith("plan: ")]
    assert "plan: create ECS cluster movie-reviews-sentiment in us-east-1" in planned
    assert "plan: create S3 bucket movie-reviews-sentiment-storage in us-east-1" in planned
    assert len(planned) >= 20

    # After a deploy, the plan is the difference only: one setting changed, one change planned.
    deploy_ecs(p, "sentiment", "v1", wait=False)
    caplog.clear()
    deploy_ecs(p.model_copy(update={"max_tasks": 6}), "sentiment", "v1", dry_run=True)
    planned = [r.getMessage() for r in caplog.records if r.getMessage().startswith("plan: ")]
    assert planned == ["plan: scale 1-6 tasks"]
    caplog.clear()
    deploy_ecs(p, "sentiment", "v1", dry_run=True)
    assert not [r for r in caplog.records if r.getMessage().startswith("plan: ")]
    assert "deploy ecs: nothing to change" in caplog.text


def test_missing_credentials_are_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # boto3.client() goes through one default session per process, which keeps the credentials it found first.
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    (tmp_path / "deploy.yaml").write_text(yaml.safe_dump({"deploy": {"endpoint_url": "http://127.0.0.1:9"}}))
    assert main(["--deploy-settings", str(tmp_path / "deploy.yaml"), "deploy", "storage"]) == 1
    (record,) = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert record.getMessage() == "sentiment deploy: storage deploy failed: Unable to locate credentials"


def test_dvc_push_to_s3_and_pull_into_a_fresh_clone(moto_endpoint: str, tmp_path: Path) -> None:
    """The repository's own remote (.dvc/config), pointed at moto, round-trips data and a stage's output."""
    deploy_storage(params(moto_endpoint, storage_bucket="dvc-test"))
    environment = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                   "GIT_COMMITTER_EMAIL": "t@t", "DVC_NO_ANALYTICS": "1"}  # fmt: skip

    def run(*command: str | Path, cwd: Path) -> None:
        done = subprocess.run([str(part) for part in command], cwd=cwd, env=environment, capture_output=True, text=True)
        assert done.returncode == 0, f"{command}: {done.stdout[-1000:]}{done.stderr[-2000:]}"

    origin = tmp_path / "origin"
    origin.mkdir()
    run("git", "init", "--quiet", cwd=origin)
    run(DVC, "init", "--quiet", cwd=origin)
    config = (REPO / ".dvc" / "config").read_text()
    (origin / ".dvc" / "config").write_text(config.replace("s3://movie-reviews-sentiment-storage/", "s3://dvc-test/"))
    run(DVC, "remote", "modify", "storage", "endpointurl", moto_endpoint, cwd=origin)
    (origin / "data.txt").write_text("a superb film\n")
    run(DVC, "add", "--quiet", "data.txt", cwd=origin)
    # A stage whose output is a folder, as models/candidates/<name> is: pipeline outputs travel too.
    train = f"{sys.executable} -c \"import pathlib; m = pathlib.Path('model'); m.mkdir(); "
    train += "(m / 'weights.json').write_text(pathlib.Path('data.txt').read_text().upper())\""
    run(DVC, "stage", "add", "--quiet", "-n", "train", "-d", "data.txt", "-o", "model", train, cwd=origin)
    run(DVC, "repro", "--quiet", cwd=origin)
    run("git", "add", "-A", cwd=origin)
    run("git", "commit", "--quiet", "-m", "data and model", cwd=origin)
    run(DVC, "push", cwd=origin)
    stored = aws(moto_endpoint, "s3").list_objects_v2(Bucket="dvc-test", Prefix="dvc/")["Contents"]
    assert len(stored) == 3  # data.txt, the model folder's listing, and weights.json

    run("git", "clone", "--quiet", origin, tmp_path / "clone", cwd=tmp_path)
    run(DVC, "pull", cwd=tmp_path / "clone")
    assert (tmp_path / "clone" / "data.txt").read_text() == "a superb film\n"
    assert (tmp_path / "clone" / "model" / "weights.json").read_text() == "A SUPERB FILM\n"
