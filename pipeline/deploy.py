"""Deploy to AWS: the image on ECS Fargate, the page on S3, the champion on Lambda. Run: sentiment deploy TARGET

Credentials come only from the standard AWS chain (environment, ~/.aws, an instance role); nothing
here writes them anywhere. `endpoint_url` in params points every client at a stand-in such as moto.
Each target is create-or-update: a second run converges on params.yaml instead of failing or duplicating.
"""

from __future__ import annotations

import io
import json
import logging
import mimetypes
import re
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.errors import PipelineError
from pipeline.files import read_json, write_json

log = logging.getLogger(__name__)

# What the handler imports from this package, as modules (pipeline/<name>.py) and packages (every .py under
# pipeline/<name>/); the rest (training, MLflow, DVC) stays out of the zip.
HANDLER_MODULES = ("__init__", "errors", "files", "progress", "labels", "api", "lambda_handler")
HANDLER_PACKAGES = ("model",)
# Third-party packages the handler needs, for Lambda's Linux x86_64 and Python 3.11.
LAMBDA_PACKAGES = ("numpy>=1.26", "nltk>=3.9.1", "pydantic>=2.6")
LAMBDA_PLATFORM = ("x86_64-manylinux_2_17", "3.11")
MAX_ZIP_BYTES = 50 * 1024 * 1024  # Lambda's limit for a zip uploaded directly

LAMBDA_BASIC_EXECUTION = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
ECS_TASK_EXECUTION = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
# Written into the image by pipeline/container/setup.sh; it finds the port as `bentoml serve` does.
HEALTHCHECK_SCRIPT = "/usr/local/bin/sentiment-healthcheck"
READY_PATH = "/readyz"  # BentoML answers 200 once the model is loaded
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
# The page has no build step, so its file names carry no content hash: these two must never be cached,
# or a browser keeps calling an old API URL (config.js) or an old module list (index.html).
NO_CACHE_FILES = ("index.html", "config.js")
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript", ".css": "text/css"}
ELB_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?")  # ALB and target group names
IMAGE_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


@dataclass(frozen=True)
class DeployParams:
    region: str = "us-east-1"
    endpoint_url: str | None = None  # None: AWS itself; a URL for a local stand-in (moto)
    lambda_function: str = "movie-reviews-sentiment"
    lambda_role: str = "movie-reviews-sentiment-lambda"  # created with basic execution rights if missing
    lambda_memory_mb: int = 512
    lambda_timeout_s: int = 15
    # Origins allowed to call the API from a browser, besides the S3 site's own (see allowed_origins()).
    cors_origins: tuple[str, ...] = ()
    # ECS on Fargate behind an Application Load Balancer: sentiment deploy ecs
    ecs_cluster: str = "movie-reviews-sentiment"
    ecs_service: str = "movie-reviews-sentiment"
    ecs_task_family: str = "movie-reviews-sentiment"
    ecs_execution_role: str = "movie-reviews-sentiment-ecs-execution"
    container_port: int = 3000
    cpu_units: int = 512
    memory_mb: int = 1024
    desired_tasks: int = 2
    min_tasks: int = 1
    max_tasks: int = 4
    target_cpu_percent: float = 60.0
    scale_in_cooldown_s: int = 300
    scale_out_cooldown_s: int = 60
    min_healthy_percent: int = 100
    max_percent: int = 200
    health_check_grace_period_s: int = 60
    log_group: str = "/ecs/movie-reviews-sentiment"
    log_retention_days: int = 14
    load_balancer: str = "movie-reviews-sentiment"
    target_group: str = "movie-reviews-sentiment"
    listener_port: int = 80
    # The page on S3: sentiment deploy site
    site_bucket: str | None = "movie-reviews-sentiment-site"
    site_max_age_s: int = 300
    # DVC remote and MLflow artifacts (.dvc/config names the same bucket)
    storage_bucket: str = "movie-reviews-sentiment-storage"

    def __post_init__(self) -> None:
        object.__setattr__(self, "cors_origins", tuple(self.cors_origins))
        if "*" in self.cors_origins:
            raise PipelineError("deploy.cors_origins must list origins; '*' would let any site call the API")
        if self.memory_mb not in FARGATE_SIZES.get(self.cpu_units, ()):
            raise PipelineError(
                f"deploy: Fargate has no task size of {self.cpu_units} CPU units with {self.memory_mb} MB; "
                f"cpu_units is one of {sorted(FARGATE_SIZES)} and memory_mb one its size allows"
            )
        if not 1 <= self.min_tasks <= self.desired_tasks <= self.max_tasks:
            raise PipelineError("deploy: need 1 <= min_tasks <= desired_tasks <= max_tasks")
        for key in ("load_balancer", "target_group"):
            if not ELB_NAME.fullmatch(getattr(self, key)):
                raise PipelineError(f"deploy.{key} must be 1-32 letters, digits or inner hyphens")


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


def client(p: DeployParams, service: str) -> Any:
    import boto3

    return boto3.client(service, region_name=p.region, endpoint_url=p.endpoint_url)


def build_lambda_zip(champion: Path, serving: Path, out: Path) -> Path:
    """The handler, the champion's weights and the packages it imports, in one zip under 50 MB."""
    if not (champion / "model.json").exists():
        raise PipelineError(f"{champion} holds no model; run `dvc repro` first")
    uv = shutil.which("uv")
    if uv is None:
        raise PipelineError("uv is not on PATH: run this through `uv run sentiment ...`")
    package_dir = Path(__file__).parent
    with tempfile.TemporaryDirectory() as temporary:
        site = Path(temporary) / "site"
        platform, python = LAMBDA_PLATFORM
        command = [uv, "pip", "install", "--quiet", "--target", str(site), "--python-platform", platform,
                   "--python-version", python, "--only-binary", ":all:", *LAMBDA_PACKAGES]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise PipelineError(
                f"installing {', '.join(LAMBDA_PACKAGES)} for Lambda failed: {done.stderr.strip()[-300:]}"
            )
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
            for path in sorted(site.rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts:
                    archive.write(path, path.relative_to(site).as_posix())
            for name in HANDLER_MODULES:
                archive.write(package_dir / f"{name}.py", f"pipeline/{name}.py")
            for name in HANDLER_PACKAGES:
                for path in sorted((package_dir / name).rglob("*.py")):
                    archive.write(path, f"pipeline/{path.relative_to(package_dir).as_posix()}")
            for path in sorted(champion.iterdir()):
                archive.write(path, f"model/{path.name}")
            if serving.exists():
                archive.write(serving, "model/bento.json")
    size = buffer.tell()
    if size > MAX_ZIP_BYTES:
        raise PipelineError(f"the Lambda zip is {size / 2**20:.1f} MiB; Lambda takes at most 50 MiB uploaded directly")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(buffer.getvalue())
    log.info("wrote %s (%.1f MiB)", out, size / 2**20)
    return out


def _role_arn(p: DeployParams, name: str, service: str, policy_arn: str) -> str:
    """An execution role made once, with one AWS-managed policy: for Lambda, writing its own logs; for
    ECS, pulling the image from ECR and writing logs. An existing role is used as it is."""
    iam = client(p, "iam")
    try:
        return iam.get_role(RoleName=name)["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        pass
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
    }
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.attach_role_policy(RoleName=name, PolicyArn=policy_arn)
    log.info("created IAM role %s", name)
    return arn


def plan_lambda(p: DeployParams, zip_path: Path) -> list[str]:
    return [
        f"IAM role {p.lambda_role} (create if missing, basic execution policy)",
        f"Lambda function {p.lambda_function} in {p.region}: python3.11, handler pipeline.lambda_handler.handler, "
        f"{p.lambda_memory_mb} MB, {p.lambda_timeout_s} s, code {zip_path} (create or update)",
        f"Function URL for {p.lambda_function}: auth NONE, CORS {list(allowed_origins(p)) or 'none'} "
        "(create or update)",
    ]


def deploy_lambda(p: DeployParams, zip_path: Path, dry_run: bool = False) -> dict[str, str]:
    """Create or update the function and its Function URL; a second run updates in place."""
    if dry_run:
        for step in plan_lambda(p, zip_path):
            log.info("plan: %s", step)
        return {}
    from botocore.exceptions import BotoCoreError, ClientError

    origins = allowed_origins(p)
    environment = {"Variables": {"SENTIMENT_CORS_ORIGINS": ",".join(origins)}}
    cors = {
        "AllowOrigins": list(origins),
        "AllowMethods": ["POST"],
        "AllowHeaders": ["content-type"],
        "MaxAge": 600,
    }
    settings = {
        "Role": None,
        "Handler": "pipeline.lambda_handler.handler",
        "Runtime": "python3.11",
        "MemorySize": p.lambda_memory_mb,
        "Timeout": p.lambda_timeout_s,
        "Environment": environment,
    }
    try:
        settings["Role"] = _role_arn(p, p.lambda_role, "lambda.amazonaws.com", LAMBDA_BASIC_EXECUTION)
        lam = client(p, "lambda")
        code = zip_path.read_bytes()
        try:
            lam.get_function(FunctionName=p.lambda_function)
            lam.update_function_code(FunctionName=p.lambda_function, ZipFile=code)
            lam.get_waiter("function_updated_v2").wait(FunctionName=p.lambda_function)
            lam.update_function_configuration(FunctionName=p.lambda_function, **settings)
            action = "updated"
        except lam.exceptions.ResourceNotFoundException:
            lam.create_function(FunctionName=p.lambda_function, Code={"ZipFile": code}, **settings)
            action = "created"
        try:
            lam.get_function_url_config(FunctionName=p.lambda_function)
            url = lam.update_function_url_config(FunctionName=p.lambda_function, AuthType="NONE", Cors=cors)
        except lam.exceptions.ResourceNotFoundException:
            url = lam.create_function_url_config(FunctionName=p.lambda_function, AuthType="NONE", Cors=cors)
            lam.add_permission(
                FunctionName=p.lambda_function,
                StatementId="function-url-public",
                Action="lambda:InvokeFunctionUrl",
                Principal="*",
                FunctionUrlAuthType="NONE",
            )
    except (BotoCoreError, ClientError) as error:
        raise PipelineError(f"Lambda deploy failed: {str(error).splitlines()[0]}") from None
    log.info("%s Lambda function %s; Function URL %s", action, p.lambda_function, url["FunctionUrl"])
    return {"action": action, "function": p.lambda_function, "url": url["FunctionUrl"]}


def image_reference(p: DeployParams, repository: str, tag: str, account: str) -> str:
    """The image as ECS pulls it from ECR. A full reference (it has a "/" or ":") passes through as it is."""
    if "/" in tag or ":" in tag or "@" in tag:
        return tag
    if not IMAGE_TAG.fullmatch(tag):
        raise PipelineError(f"{tag!r} is not an image tag (letters, digits, '_', '.', '-'; at most 128)")
    return f"{account}.dkr.ecr.{p.region}.amazonaws.com/{repository}:{tag}"


def plan_ecs(p: DeployParams, image: str) -> list[str]:
    origins = ",".join(allowed_origins(p)) or "none"
    return [
        f"IAM role {p.ecs_execution_role} (create if missing, AmazonECSTaskExecutionRolePolicy)",
        f"CloudWatch log group {p.log_group}, {p.log_retention_days} days (create if missing)",
        f"ECS cluster {p.ecs_cluster} in {p.region} (create if missing)",
        f"task definition {p.ecs_task_family} (new revision): Fargate, awsvpc, {p.cpu_units} CPU units, "
        f"{p.memory_mb} MB, image {image}, port {p.container_port}, healthCheck {HEALTHCHECK_SCRIPT}, "
        f"SENTIMENT_CORS_ORIGINS={origins}",
        f"security groups {p.load_balancer}-alb (port {p.listener_port} from anywhere) and {p.ecs_service}-tasks "
        f"(port {p.container_port} from the load balancer only) in the default VPC (create if missing)",
        f"target group {p.target_group}: ip targets, HTTP {p.container_port}, health check {READY_PATH} "
        "(create or update)",
        f"Application Load Balancer {p.load_balancer} on the default VPC's subnets, HTTP listener on port "
        f"{p.listener_port} forwarding to {p.target_group} (create or update)",
        f"Fargate service {p.ecs_service}: {p.desired_tasks} tasks, rolling update {p.min_healthy_percent}-"
        f"{p.max_percent} %, circuit breaker with rollback (create, or update to the new revision)",
        f"auto scaling {p.min_tasks}-{p.max_tasks} tasks, target {p.target_cpu_percent} % average CPU "
        "(create or update)",
    ]


def deploy_ecs(p: DeployParams, repository: str, tag: str, dry_run: bool = False) -> dict[str, str]:
    """Create or update everything the image needs to serve on Fargate behind a load balancer.

    The task definition gets a new revision on every run and the service rolls to it; the circuit
    breaker rolls back a revision whose tasks never turn healthy. Returns the service URL and ARNs.
    """
    if dry_run:
        for step in plan_ecs(p, image_reference(p, repository, tag, "<account>")):
            log.info("plan: %s", step)
        return {}
    with aws_errors("ECS deploy"):
        account = client(p, "sts").get_caller_identity()["Account"]
        image = image_reference(p, repository, tag, account)
        role = _role_arn(p, p.ecs_execution_role, "ecs-tasks.amazonaws.com", ECS_TASK_EXECUTION)
        _log_group(p)
        _cluster(p)
        task_definition = _register_task_definition(p, image, role)
        vpc, subnets = _default_network(p)
        alb_group = _security_group(p, f"{p.load_balancer}-alb", vpc, "sentiment load balancer: HTTP from anywhere")
        _allow(p, alb_group, p.listener_port, {"IpRanges": [{"CidrIp": "0.0.0.0/0"}]})
        task_group = _security_group(p, f"{p.ecs_service}-tasks", vpc, "sentiment tasks: from the load balancer")
        _allow(p, task_group, p.container_port, {"UserIdGroupPairs": [{"GroupId": alb_group}]})
        target_group = _target_group(p, vpc)
        balancer = _load_balancer(p, subnets, alb_group)
        _listener(p, balancer["LoadBalancerArn"], target_group)
        action, service = _service(p, task_definition, target_group, subnets, task_group)
        _autoscaling(p)
    url = f"http://{balancer['DNSName']}"
    revision = task_definition.rsplit("/", 1)[-1]
    log.info("%s ECS service %s on task definition %s; service URL %s", action, p.ecs_service, revision, url)
    return {"action": action, "url": url, "service": service, "task_definition": task_definition, "image": image}


def _log_group(p: DeployParams) -> None:
    logs = client(p, "logs")
    try:
        logs.create_log_group(logGroupName=p.log_group)
        log.info("created log group %s", p.log_group)
    except logs.exceptions.ResourceAlreadyExistsException:
        pass
    logs.put_retention_policy(logGroupName=p.log_group, retentionInDays=p.log_retention_days)


def _cluster(p: DeployParams) -> None:
    ecs = client(p, "ecs")
    found = ecs.describe_clusters(clusters=[p.ecs_cluster])["clusters"]
    if not any(cluster["status"] == "ACTIVE" for cluster in found):
        ecs.create_cluster(clusterName=p.ecs_cluster)
        log.info("created ECS cluster %s", p.ecs_cluster)


def _register_task_definition(p: DeployParams, image: str, execution_role: str) -> str:
    """A new revision each run, so the service rolls even when only the image tag changed."""
    container = {
        "name": p.ecs_service,
        "image": image,
        "essential": True,
        "portMappings": [{"containerPort": p.container_port, "protocol": "tcp"}],
        # BentoML's entrypoint reads BENTOML_PORT, and so does the image's health check script.
        "environment": [
            {"name": "BENTOML_PORT", "value": str(p.container_port)},
            {"name": "SENTIMENT_CORS_ORIGINS", "value": ",".join(allowed_origins(p))},
        ],
        # Same timings as the image's HEALTHCHECK (pipeline/container/Dockerfile.template): ECS ignores that one.
        "healthCheck": {
            "command": ["CMD", HEALTHCHECK_SCRIPT],
            "interval": 30,
            "timeout": 5,
            "retries": 3,
            "startPeriod": 60,
        },
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {"awslogs-group": p.log_group, "awslogs-region": p.region, "awslogs-stream-prefix": "sentiment"},
        },
        # BentoML stops gracefully on SIGINT (the image's STOPSIGNAL) in under a second.
        "stopTimeout": 30,
    }
    answer = client(p, "ecs").register_task_definition(
        family=p.ecs_task_family,
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu=str(p.cpu_units),
        memory=str(p.memory_mb),
        executionRoleArn=execution_role,
        # The image is built on x86_64 (sentiment image build); Fargate would otherwise guess.
        runtimePlatform={"cpuArchitecture": "X86_64", "operatingSystemFamily": "LINUX"},
        containerDefinitions=[container],
    )
    arn = answer["taskDefinition"]["taskDefinitionArn"]
    log.info("registered task definition %s", arn.rsplit("/", 1)[-1])
    return arn


def _default_network(p: DeployParams) -> tuple[str, list[str]]:
    """The default VPC and its subnets: public ones, so tasks reach ECR without a NAT gateway."""
    ec2 = client(p, "ec2")
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"]
    if not vpcs:
        raise PipelineError(f"{p.region} has no default VPC; create one with `aws ec2 create-default-vpc`")
    vpc = vpcs[0]["VpcId"]
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
    zones = {subnet["AvailabilityZone"] for subnet in subnets}
    if len(zones) < 2:
        raise PipelineError(f"the default VPC {vpc} has subnets in {len(zones)} zone(s); a load balancer needs two")
    return vpc, sorted(subnet["SubnetId"] for subnet in subnets)


def _security_group(p: DeployParams, name: str, vpc: str, description: str) -> str:
    ec2 = client(p, "ec2")
    filters = [{"Name": "group-name", "Values": [name]}, {"Name": "vpc-id", "Values": [vpc]}]
    found = ec2.describe_security_groups(Filters=filters)["SecurityGroups"]
    if found:
        return found[0]["GroupId"]
    group = ec2.create_security_group(GroupName=name, Description=description, VpcId=vpc)["GroupId"]
    log.info("created security group %s (%s)", name, group)
    return group


def _allow(p: DeployParams, group: str, port: int, source: dict[str, Any]) -> None:
    """Open one TCP port to one source; a rule that exists already is left alone."""
    ec2 = client(p, "ec2")
    try:
        ec2.authorize_security_group_ingress(
            GroupId=group, IpPermissions=[{"IpProtocol": "tcp", "FromPort": port, "ToPort": port, **source}]
        )
    except ec2.exceptions.ClientError as error:
        if error.response["Error"]["Code"] != "InvalidPermission.Duplicate":
            raise


def _target_group(p: DeployParams, vpc: str) -> str:
    elb = client(p, "elbv2")
    health = {
        "HealthCheckProtocol": "HTTP",
        "HealthCheckPath": READY_PATH,
        "HealthCheckIntervalSeconds": 15,
        "HealthyThresholdCount": 2,
        "UnhealthyThresholdCount": 3,
        "Matcher": {"HttpCode": "200"},
    }
    try:
        arn = elb.describe_target_groups(Names=[p.target_group])["TargetGroups"][0]["TargetGroupArn"]
        elb.modify_target_group(TargetGroupArn=arn, **health)
        return arn
    except elb.exceptions.TargetGroupNotFoundException:
        pass
    created = elb.create_target_group(
        Name=p.target_group, Protocol="HTTP", Port=p.container_port, VpcId=vpc, TargetType="ip", **health
    )
    log.info("created target group %s", p.target_group)
    return created["TargetGroups"][0]["TargetGroupArn"]


def _load_balancer(p: DeployParams, subnets: list[str], group: str) -> dict[str, Any]:
    elb = client(p, "elbv2")
    try:
        return elb.describe_load_balancers(Names=[p.load_balancer])["LoadBalancers"][0]
    except elb.exceptions.LoadBalancerNotFoundException:
        pass
    created = elb.create_load_balancer(
        Name=p.load_balancer, Subnets=subnets, SecurityGroups=[group], Scheme="internet-facing", Type="application"
    )["LoadBalancers"][0]
    log.info("created load balancer %s", p.load_balancer)
    return created


def _listener(p: DeployParams, balancer: str, target_group: str) -> None:
    elb = client(p, "elbv2")
    forward = [{"Type": "forward", "TargetGroupArn": target_group}]
    for listener in elb.describe_listeners(LoadBalancerArn=balancer)["Listeners"]:
        if listener["Port"] == p.listener_port:
            elb.modify_listener(ListenerArn=listener["ListenerArn"], Protocol="HTTP", DefaultActions=forward)
            return
    elb.create_listener(LoadBalancerArn=balancer, Protocol="HTTP", Port=p.listener_port, DefaultActions=forward)
    log.info("created HTTP listener on port %d", p.listener_port)


def _service(
    p: DeployParams, task_definition: str, target_group: str, subnets: list[str], group: str
) -> tuple[str, str]:
    """Create the service, or roll the existing one to the new revision with the same settings.

    An update leaves desiredCount out: auto scaling owns it once the service runs, and resetting it on
    every deploy would undo a scale-out under load.
    """
    ecs = client(p, "ecs")
    settings = {
        "taskDefinition": task_definition,
        "deploymentConfiguration": {
            "minimumHealthyPercent": p.min_healthy_percent,
            "maximumPercent": p.max_percent,
            "deploymentCircuitBreaker": {"enable": True, "rollback": True},
        },
        "networkConfiguration": {
            # A public IP lets tasks in the default VPC's public subnets pull from ECR without a NAT gateway;
            # their security group admits only the load balancer.
            "awsvpcConfiguration": {"subnets": subnets, "securityGroups": [group], "assignPublicIp": "ENABLED"}
        },
        "healthCheckGracePeriodSeconds": p.health_check_grace_period_s,
    }
    found = ecs.describe_services(cluster=p.ecs_cluster, services=[p.ecs_service])["services"]
    if any(service["status"] == "ACTIVE" for service in found):
        service = ecs.update_service(cluster=p.ecs_cluster, service=p.ecs_service, **settings)["service"]
        return "updated", service["serviceArn"]
    service = ecs.create_service(
        cluster=p.ecs_cluster,
        serviceName=p.ecs_service,
        launchType="FARGATE",
        desiredCount=p.desired_tasks,
        loadBalancers=[
            {"targetGroupArn": target_group, "containerName": p.ecs_service, "containerPort": p.container_port}
        ],
        deploymentController={"type": "ECS"},  # rolling updates
        **settings,
    )["service"]
    return "created", service["serviceArn"]


def _autoscaling(p: DeployParams) -> None:
    """Both calls create or replace, so a second run only re-applies params."""
    scaling = client(p, "application-autoscaling")
    target = {
        "ServiceNamespace": "ecs",
        "ResourceId": f"service/{p.ecs_cluster}/{p.ecs_service}",
        "ScalableDimension": "ecs:service:DesiredCount",
    }
    scaling.register_scalable_target(**target, MinCapacity=p.min_tasks, MaxCapacity=p.max_tasks)
    scaling.put_scaling_policy(
        PolicyName=f"{p.ecs_service}-cpu",
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": p.target_cpu_percent,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"},
            "ScaleInCooldown": p.scale_in_cooldown_s,
            "ScaleOutCooldown": p.scale_out_cooldown_s,
        },
        **target,
    )


def api_url_from(output: Path) -> str | None:
    """The service URL `sentiment deploy ecs` recorded, if it ran on this machine."""
    try:
        return read_json(output)["ecs"]["url"]
    except (FileNotFoundError, KeyError, TypeError, ValueError):
        return None


def site_files(frontend: Path, api_url: str, max_age_s: int) -> list[tuple[str, bytes, str, str]]:
    """(key, body, Content-Type, Cache-Control) for each file of the page; config.js names the API.

    config.js is rewritten here, in memory: the file in the repository keeps "" (the page's own origin,
    as under `bentoml serve`), because the package stage builds the bento from frontend/.
    """
    if not frontend.is_dir():
        raise PipelineError(f"{frontend} is not a folder; run from the repository root or pass --frontend")
    files = []
    for path in sorted(frontend.iterdir()):
        if not path.is_file() or path.name.startswith("."):
            continue
        content_type = CONTENT_TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0]
        if content_type is None:
            raise PipelineError(f"{path}: no Content-Type known for {path.suffix or 'a name without a suffix'}")
        body = path.read_bytes()
        if path.name == "config.js":
            body = f"export const API_BASE_URL = {json.dumps(api_url)};\n".encode()
        cache = "no-cache" if path.name in NO_CACHE_FILES else f"public, max-age={max_age_s}"
        files.append((path.name, body, content_type, cache))
    if "index.html" not in {key for key, *_ in files}:
        raise PipelineError(f"{frontend} has no index.html")
    return files


def site_policy(bucket: str) -> dict[str, Any]:
    """Anyone may read the bucket's objects; listing, writing and the bucket's settings stay private."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PublicReadObjects",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/*",
            }
        ],
    }


def plan_site(p: DeployParams, frontend: Path, api_url: str | None) -> list[str]:
    if not frontend.is_dir():
        raise PipelineError(f"{frontend} is not a folder; run from the repository root or pass --frontend")
    return [
        f"S3 bucket {p.site_bucket} in {p.region} (create if missing)",
        "public access block: ACLs blocked, bucket policies allowed",
        f"bucket policy: s3:GetObject on arn:aws:s3:::{p.site_bucket}/* for anyone, nothing else",
        "static website: index.html, error document index.html",
        f"upload {', '.join(sorted(path.name for path in frontend.iterdir() if path.is_file()))} from {frontend}, "
        f"config.js naming the API at {api_url or '<not known yet: run sentiment deploy ecs first>'}",
        f"site URL {site_url(p)}",
    ]


def deploy_site(p: DeployParams, frontend: Path, api_url: str | None, dry_run: bool = False) -> dict[str, str]:
    """Host the page as an S3 static website that calls the API at `api_url`.

    S3 websites serve plain HTTP only; the page's origin is in allowed_origins(), so the ECS task and the
    Function URL accept it. A second run uploads the files again and re-applies the same settings.
    """
    if not p.site_bucket:
        raise PipelineError("deploy.site_bucket is empty: name the bucket to host the page in")
    if dry_run:
        for step in plan_site(p, frontend, api_url):
            log.info("plan: %s", step)
        return {}
    if not api_url:
        raise PipelineError("no API URL: run `sentiment deploy ecs` first, or pass --api-url")
    files = site_files(frontend, api_url, p.site_max_age_s)
    bucket = p.site_bucket
    with aws_errors("site deploy"):
        s3 = client(p, "s3")
        _bucket(p, bucket)
        # Block ACLs (this bucket never uses them) but let the bucket policy below make objects public.
        s3.put_public_access_block(
            Bucket=bucket,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": False,
                "RestrictPublicBuckets": False,
            },
        )
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(site_policy(bucket)))
        # One page, so a missing key gets the page too, not S3's XML error.
        s3.put_bucket_website(
            Bucket=bucket,
            WebsiteConfiguration={"IndexDocument": {"Suffix": "index.html"}, "ErrorDocument": {"Key": "index.html"}},
        )
        for key, body, content_type, cache in files:
            s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type, CacheControl=cache)
    url = site_url(p) or ""
    log.info("uploaded %d files to s3://%s; site URL %s (API %s)", len(files), bucket, url, api_url)
    return {"url": url, "bucket": bucket, "api_url": api_url}


def _bucket(p: DeployParams, bucket: str) -> None:
    s3 = client(p, "s3")
    try:
        s3.head_bucket(Bucket=bucket)
        return
    except s3.exceptions.ClientError as error:
        if error.response["Error"]["Code"] not in ("404", "NoSuchBucket"):
            raise  # 403: the name is taken by another account, or this one may not read it
    # us-east-1 refuses a LocationConstraint naming itself.
    where = {} if p.region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": p.region}}
    s3.create_bucket(Bucket=bucket, **where)
    log.info("created S3 bucket %s", bucket)


def deploy_storage(p: DeployParams, dry_run: bool = False) -> dict[str, str]:
    """The private bucket behind `dvc push` (s3://<bucket>/dvc) and MLflow's artifacts (s3://<bucket>/mlflow)."""
    if dry_run:
        log.info("plan: S3 bucket %s in %s (create if missing), all public access blocked", p.storage_bucket, p.region)
        return {}
    with aws_errors("storage deploy"):
        _bucket(p, p.storage_bucket)
        client(p, "s3").put_public_access_block(
            Bucket=p.storage_bucket,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )
    log.info(
        "S3 bucket %s is ready: dvc push (remote storage) and mlflow server s3://%s/mlflow", *[p.storage_bucket] * 2
    )
    return {
        "bucket": p.storage_bucket,
        "dvc": f"s3://{p.storage_bucket}/dvc",
        "mlflow": f"s3://{p.storage_bucket}/mlflow",
    }
