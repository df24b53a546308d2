"""The image on ECS Fargate behind an Application Load Balancer, with auto scaling. Run: sentiment deploy ecs

Each run is create-or-update: a second run converges on the settings instead of failing or duplicating.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from pipeline.deploy.settings import DeployParams, allowed_origins, aws_errors, client, role_arn
from pipeline.deploy.tags import tag_list
from pipeline.errors import PipelineError

log = logging.getLogger(__name__)

ECS_TASK_EXECUTION = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"

# Written into the image by pipeline/deploy/container/setup.sh; it finds the port as `bentoml serve` does.
HEALTHCHECK_SCRIPT = "/usr/local/bin/sentiment-healthcheck"

READY_PATH = "/readyz"  # BentoML answers 200 once the model is loaded

IMAGE_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


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
        role = role_arn(p, p.ecs_execution_role, "ecs-tasks.amazonaws.com", ECS_TASK_EXECUTION, "ecs")
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
        logs.create_log_group(logGroupName=p.log_group, tags=p.tags("ecs"))
        log.info("created log group %s", p.log_group)
    except logs.exceptions.ResourceAlreadyExistsException:
        pass
    logs.put_retention_policy(logGroupName=p.log_group, retentionInDays=p.log_retention_days)


def _cluster(p: DeployParams) -> None:
    ecs = client(p, "ecs")
    found = ecs.describe_clusters(clusters=[p.ecs_cluster])["clusters"]
    if not any(cluster["status"] == "ACTIVE" for cluster in found):
        ecs.create_cluster(clusterName=p.ecs_cluster, tags=tag_list(p.tags("ecs"), "key", "value"))
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
        # Same timings as the image's HEALTHCHECK (pipeline/deploy/container/Dockerfile.template): ECS ignores that one.
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
        tags=tag_list(p.tags("ecs"), "key", "value"),
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
    tags = [{"ResourceType": "security-group", "Tags": tag_list(p.tags("ecs"))}]
    group = ec2.create_security_group(GroupName=name, Description=description, VpcId=vpc, TagSpecifications=tags)[
        "GroupId"
    ]
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
        Name=p.target_group,
        Protocol="HTTP",
        Port=p.container_port,
        VpcId=vpc,
        TargetType="ip",
        Tags=tag_list(p.tags("ecs")),
        **health,
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
        Name=p.load_balancer,
        Subnets=subnets,
        SecurityGroups=[group],
        Scheme="internet-facing",
        Type="application",
        Tags=tag_list(p.tags("ecs")),
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
    elb.create_listener(
        LoadBalancerArn=balancer,
        Protocol="HTTP",
        Port=p.listener_port,
        DefaultActions=forward,
        Tags=tag_list(p.tags("ecs")),
    )
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
        tags=tag_list(p.tags("ecs"), "key", "value"),
        propagateTags="SERVICE",  # the tasks carry the service's tags, for cost allocation
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
