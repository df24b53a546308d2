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
from pipeline.deploy.ecs import deploy_ecs
from pipeline.deploy.settings import DeployParams, site_url
from pipeline.deploy.site import deploy_site, deploy_storage

pytestmark = [pytest.mark.integration, pytest.mark.aws]

REPO = Path(__file__).resolve().parents[2]
DVC = Path(sys.executable).parent / "dvc"
ECR_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/sentiment:v1"  # moto's account id


def params(endpoint: str, **overrides: Any) -> DeployParams:
    return DeployParams(endpoint_url=endpoint, cors_origins=("http://localhost:8080",), **overrides)


def aws(endpoint: str, service: str) -> Any:
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1")


def test_ecs_deploy_twice_creates_then_rolls_to_a_new_revision(moto_endpoint: str) -> None:
    p = params(moto_endpoint, desired_tasks=2, min_tasks=2, max_tasks=5, cpu_units=1024, memory_mb=2048)
    first = deploy_ecs(p, "sentiment", "v1")
    second = deploy_ecs(p, "sentiment", "v1")
    assert (first["action"], second["action"]) == ("created", "updated")
    assert first["url"] == second["url"] and first["url"].startswith("http://movie-reviews-sentiment-")
    assert first["image"] == ECR_IMAGE

    ecs = aws(moto_endpoint, "ecs")
    assert [c["status"] for c in ecs.describe_clusters(clusters=[p.ecs_cluster])["clusters"]] == ["ACTIVE"]
    assert len(ecs.list_clusters()["clusterArns"]) == 1
    assert second["task_definition"].endswith(f"{p.ecs_task_family}:2")
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
    (target_group,) = elb.describe_target_groups(Names=[p.target_group])["TargetGroups"]
    assert service["loadBalancers"] == [
        {"targetGroupArn": target_group["TargetGroupArn"], "containerName": p.ecs_service, "containerPort": 3000}
    ]
    # moto 5.2.5's create_service drops deploymentConfiguration; update_service stores it. So this is checked
    # after the second run, which is also the path every later deploy takes.
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
    (policy,) = scaling.describe_scaling_policies(ServiceNamespace="ecs")["ScalingPolicies"]
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    assert policy["PolicyType"] == "TargetTrackingScaling" and tracking["TargetValue"] == 60.0
    assert tracking["PredefinedMetricSpecification"]["PredefinedMetricType"] == "ECSServiceAverageCPUUtilization"


def _site_state(endpoint: str, bucket: str) -> dict[str, Any]:
    s3 = aws(endpoint, "s3")
    return {
        "website": {key: value for key, value in s3.get_bucket_website(Bucket=bucket).items() if "Document" in key},
        "policy": json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]),
        "block": s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"],
        "keys": sorted(item["Key"] for item in s3.list_objects_v2(Bucket=bucket)["Contents"]),
        "buckets": sorted(item["Name"] for item in s3.list_buckets()["Buckets"]),
    }


def test_site_deploy_twice_serves_the_page_publicly_with_the_api_url(moto_endpoint: str) -> None:
    p = params(moto_endpoint, site_max_age_s=120)
    first = deploy_site(p, REPO / "frontend", "http://api.example")
    state = _site_state(moto_endpoint, p.site_bucket)
    second = deploy_site(p, REPO / "frontend", "http://api.example")
    assert first == second
    assert first == {"url": site_url(p), "bucket": p.site_bucket, "api_url": "http://api.example"}
    assert site_url(p) == "http://movie-reviews-sentiment-site.s3-website-us-east-1.amazonaws.com"
    assert _site_state(moto_endpoint, p.site_bucket) == state  # the second run changed nothing but the uploads
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


def test_cli_hands_the_ecs_url_to_the_site_and_one_origin_list_to_both(
    moto_endpoint: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = {"region": "us-east-1", "endpoint_url": moto_endpoint, "cors_origins": ["https://team.example"]}
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


def test_dry_run_calls_no_aws_api(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a dry run built an AWS client")

    p = params(moto_endpoint)
    with monkeypatch.context() as patch:
        patch.setattr(boto3, "client", refuse)
        assert deploy_ecs(p, "sentiment", "v1", dry_run=True) == {}
        assert deploy_site(p, REPO / "frontend", None, dry_run=True) == {}
        assert deploy_storage(p, dry_run=True) == {}
    assert aws(moto_endpoint, "ecs").list_clusters()["clusterArns"] == []
    assert aws(moto_endpoint, "s3").list_buckets()["Buckets"] == []
    assert aws(moto_endpoint, "elbv2").describe_load_balancers()["LoadBalancers"] == []


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
