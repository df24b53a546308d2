"""The image on ECS Fargate behind an Application Load Balancer, with auto scaling. Run: sentiment deploy ecs

Each run converges: it reads what exists, compares it with deploy.yaml and changes exactly the difference
(settings.Plan), so a second run with the same settings changes nothing and `--dry-run` prints the difference.
A port change replaces the target group (its port is fixed at creation) and the listener, then removes the old
ones and their security-group rules once the service is stable on the new revision. Then it waits, bounded,
until the rollout finished or the circuit breaker rolled it back, and says which.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from pipeline.deploy.monitoring import monitor
from pipeline.deploy.settings import DeployParams, Plan, allowed_origins, aws_errors, client, matches, role_arn
from pipeline.deploy.tags import tag_dict, tag_list
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


def target_group_name(p: DeployParams) -> str:
    """The port is in the name: a target group's port is fixed, so a new port is a new group beside the old."""
    return f"{p.target_group}-{p.container_port}"


def deploy_ecs(p: DeployParams, repository: str, tag: str, dry_run: bool = False, wait: bool = True) -> dict[str, str]:
    """Converge everything the image needs to serve on Fargate behind a load balancer, then wait for the rollout.

    Returns the service URL and ARNs, and `action`: created, updated or unchanged (empty on a dry run).
    """
    plan = Plan(dry_run)
    with aws_errors("ECS deploy"):
        account = client(p, "sts").get_caller_identity()["Account"]
        image = image_reference(p, repository, tag, account)
        role = role_arn(p, plan, p.ecs_execution_role, "ecs-tasks.amazonaws.com", ECS_TASK_EXECUTION, "ecs")
        _log_group(p, plan)
        _cluster(p, plan)
        task_definition = _task_definition(p, plan, image, role)
        vpc, subnets = _default_network(p)
        alb_group = _security_group(
            p, plan, f"{p.load_balancer}-alb", vpc, "sentiment load balancer: HTTP from anywhere"
        )
        _allow(p, plan, alb_group, p.listener_port, {"IpRanges": [{"CidrIp": "0.0.0.0/0"}]})
        task_group = _security_group(p, plan, f"{p.ecs_service}-tasks", vpc, "sentiment tasks: from the load balancer")
        _allow(p, plan, task_group, p.container_port, {"UserIdGroupPairs": [{"GroupId": alb_group}]})
        target_group = _target_group(p, plan, vpc)
        balancer = _load_balancer(p, plan, subnets, alb_group, wait)
        _listener(p, plan, balancer["LoadBalancerArn"], target_group)
        _revoke_other_ports(p, plan, alb_group, p.listener_port)  # the old listener is gone, so is its rule
        action, service = _service(p, plan, task_definition, target_group, subnets, task_group)
        _autoscaling(p, plan)
        monitor(p, plan, balancer["LoadBalancerArn"], target_group)
        if dry_run:
            plan.report("deploy ecs")
            return {}
        if wait:
            wait_for_rollout(p, task_definition)
            # Only now nothing routes to the old port: the last old task has drained.
            _remove_old_target_groups(p, plan, target_group)
            _revoke_other_ports(p, plan, task_group, p.container_port)
        elif action != "unchanged":
            log.info("not waiting (--no-wait): the old target group and rules go on the next deploy once stable")
    plan.report("deploy ecs")
    url = f"http://{balancer['DNSName']}"
    revision = task_definition.rsplit("/", 1)[-1]
    log.info("%s ECS service %s on task definition %s; service URL %s", action, p.ecs_service, revision, url)
    return {"action": action, "url": url, "service": service, "task_definition": task_definition, "image": image}


def _log_group(p: DeployParams, plan: Plan) -> None:
    logs = client(p, "logs")
    found = [g for g in logs.describe_log_groups(logGroupNamePrefix=p.log_group)["logGroups"]
             if g["logGroupName"] == p.log_group]  # fmt: skip
    if not found:
        plan.change(
            f"create log group {p.log_group}",
            lambda: logs.create_log_group(logGroupName=p.log_group, tags=p.tags("ecs")),
            None,
        )
    if not found or found[0].get("retentionInDays") != p.log_retention_days:
        plan.change(
            f"keep log group {p.log_group} {p.log_retention_days} days",
            lambda: logs.put_retention_policy(logGroupName=p.log_group, retentionInDays=p.log_retention_days),
            None,
        )


def _cluster(p: DeployParams, plan: Plan) -> None:
    ecs = client(p, "ecs")
    found = ecs.describe_clusters(clusters=[p.ecs_cluster])["clusters"]
    if not any(cluster["status"] == "ACTIVE" for cluster in found):
        plan.change(
            f"create ECS cluster {p.ecs_cluster} in {p.region}",
            lambda: ecs.create_cluster(clusterName=p.ecs_cluster, tags=tag_list(p.tags("ecs"), "key", "value")),
            None,
        )


def task_definition_settings(p: DeployParams, image: str, execution_role: str) -> dict[str, Any]:
    container = {
        "name": p.ecs_service,
        "image": image,
        "essential": True,
        "portMappings": [{"containerPort": p.container_port, "protocol": "tcp"}],
        # BentoML's entrypoint reads BENTOML_PORT, and so does the image's health check script.
        "environment": [
            {"name": "BENTOML_PORT", "value": str(p.container_port)},
            {"name": "SENTIMENT_CORS_ORIGINS", "value": ",".join(allowed_origins(p))},
            # Sampled prediction logs on stdout, into the log group: the positive-rate alarm and `sentiment drift`.
            {"name": "SENTIMENT_PREDICTION_LOG_RATE", "value": f"{p.prediction_log_rate:g}"},
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
    return {
        "family": p.ecs_task_family,
        "requiresCompatibilities": ["FARGATE"],
        "networkMode": "awsvpc",
        "cpu": str(p.cpu_units),
        "memory": str(p.memory_mb),
        "executionRoleArn": execution_role,
        # The image is built on x86_64 (sentiment image build); Fargate would otherwise guess.
        "runtimePlatform": {"cpuArchitecture": "X86_64", "operatingSystemFamily": "LINUX"},
        "containerDefinitions": [container],
    }


def _task_definition(p: DeployParams, plan: Plan, image: str, execution_role: str) -> str:
    """The family's latest revision when it holds these settings; else a new revision (image, size, port...)."""
    ecs = client(p, "ecs")
    desired = task_definition_settings(p, image, execution_role)
    try:
        latest = ecs.describe_task_definition(taskDefinition=p.ecs_task_family)["taskDefinition"]
    except ecs.exceptions.ClientException:
        latest = None
    if latest is not None and latest["status"] == "ACTIVE" and matches(desired, latest):
        return latest["taskDefinitionArn"]
    container = desired["containerDefinitions"][0]
    what = (
        f"register task definition {p.ecs_task_family} (new revision): {p.cpu_units} CPU units, {p.memory_mb} MB, "
        f"image {image}, port {p.container_port}, SENTIMENT_CORS_ORIGINS={container['environment'][1]['value']}"
    )
    register = lambda: ecs.register_task_definition(  # noqa: E731
        **desired, tags=tag_list(p.tags("ecs"), "key", "value")
    )["taskDefinition"]["taskDefinitionArn"]
    return plan.change(what, register, f"<{p.ecs_task_family}:new>")


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


def _security_group(p: DeployParams, plan: Plan, name: str, vpc: str, description: str) -> str:
    ec2 = client(p, "ec2")
    filters = [{"Name": "group-name", "Values": [name]}, {"Name": "vpc-id", "Values": [vpc]}]
    found = ec2.describe_security_groups(Filters=filters)["SecurityGroups"]
    if found:
        if not p.owns(tag_dict(found[0].get("Tags")), "ecs"):
            log.warning("security group %s is not tagged as this project's: rules are only added to it", name)
        return found[0]["GroupId"]
    tags = [{"ResourceType": "security-group", "Tags": tag_list(p.tags("ecs"))}]
    create = lambda: ec2.create_security_group(  # noqa: E731
        GroupName=name, Description=description, VpcId=vpc, TagSpecifications=tags
    )["GroupId"]
    return plan.change(f"create security group {name} in {vpc}", create, f"<group {name}>")


def _ingress(p: DeployParams, group: str) -> list[dict[str, Any]]:
    if group.startswith("<"):
        return []  # planned, not made
    ec2 = client(p, "ec2")
    (found,) = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"]
    return found["IpPermissions"]


def _allow(p: DeployParams, plan: Plan, group: str, port: int, source: dict[str, Any]) -> None:
    """Open one TCP port to one source, unless a rule holds it already."""
    wanted = {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, **source}
    if any(matches(wanted, rule) for rule in _ingress(p, group)):
        return
    ec2 = client(p, "ec2")
    plan.change(
        f"allow TCP {port} into {group}",
        lambda: ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[wanted]),
        None,
    )


def _revoke_other_ports(p: DeployParams, plan: Plan, group: str, port: int) -> None:
    """Close every port but `port` in a group of the project's (a port change leaves the old rule behind)."""
    if group.startswith("<"):
        return
    ec2 = client(p, "ec2")
    (found,) = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"]
    if not p.owns(tag_dict(found.get("Tags")), "ecs"):
        return
    for rule in found["IpPermissions"]:
        if (rule.get("FromPort"), rule.get("ToPort")) != (port, port):
            plan.change(
                f"revoke TCP {rule.get('FromPort')} from {found['GroupName']} (the old port)",
                lambda rule=rule: ec2.revoke_security_group_ingress(GroupId=group, IpPermissions=[rule]),
                None,
            )


HEALTH_CHECK = {
    "HealthCheckProtocol": "HTTP",
    "HealthCheckPath": READY_PATH,
    "HealthCheckIntervalSeconds": 15,
    "HealthyThresholdCount": 2,
    "UnhealthyThresholdCount": 3,
    "Matcher": {"HttpCode": "200"},
}


def _target_group(p: DeployParams, plan: Plan, vpc: str) -> str:
    elb = client(p, "elbv2")
    name = target_group_name(p)
    try:
        (found,) = elb.describe_target_groups(Names=[name])["TargetGroups"]
    except elb.exceptions.TargetGroupNotFoundException:
        create = lambda: elb.create_target_group(  # noqa: E731
            Name=name, Protocol="HTTP", Port=p.container_port, VpcId=vpc, TargetType="ip",
            Tags=tag_list(p.tags("ecs")), **HEALTH_CHECK,
        )["TargetGroups"][0]["TargetGroupArn"]  # fmt: skip
        return plan.change(
            f"create target group {name}: ip targets, HTTP {p.container_port}, health check {READY_PATH}",
            create,
            f"<target group {name}>",
        )
    arn = found["TargetGroupArn"]
    if not matches(HEALTH_CHECK, found):
        plan.change(
            f"set the health check of target group {name} to {READY_PATH}",
            lambda: elb.modify_target_group(TargetGroupArn=arn, **HEALTH_CHECK),
            None,
        )
    return arn


def _load_balancer(p: DeployParams, plan: Plan, subnets: list[str], group: str, wait: bool) -> dict[str, Any]:
    elb = client(p, "elbv2")
    try:
        (found,) = elb.describe_load_balancers(Names=[p.load_balancer])["LoadBalancers"]
    except elb.exceptions.LoadBalancerNotFoundException:

        def create() -> dict[str, Any]:
            made = elb.create_load_balancer(
                Name=p.load_balancer, Subnets=subnets, SecurityGroups=[group], Scheme="internet-facing",
                Type="application", Tags=tag_list(p.tags("ecs")),
            )["LoadBalancers"][0]  # fmt: skip
            if wait:  # provisioning takes a few minutes; the listener can be added meanwhile, but say so
                log.info("waiting for load balancer %s to be active", p.load_balancer)
                waiter = elb.get_waiter("load_balancer_available")
                attempts = max(1, int(p.ecs_wait_timeout_s / p.wait_poll_s))
                waiter.wait(LoadBalancerArns=[made["LoadBalancerArn"]],
                            WaiterConfig={"Delay": p.wait_poll_s, "MaxAttempts": attempts})  # fmt: skip
            return made

        placeholder = {"LoadBalancerArn": f"<load balancer {p.load_balancer}>", "DNSName": "<new>"}
        return plan.change(
            f"create Application Load Balancer {p.load_balancer} on subnets {', '.join(subnets)}", create, placeholder
        )
    arn = found["LoadBalancerArn"]
    tags = tag_dict(elb.describe_tags(ResourceArns=[arn])["TagDescriptions"][0]["Tags"])
    if not p.owns(tags, "ecs"):
        log.warning("load balancer %s is not tagged as this project's: used as it is", p.load_balancer)
        return found
    if found.get("SecurityGroups") != [group]:
        plan.change(
            f"set the security group of load balancer {p.load_balancer} to {group}",
            lambda: elb.set_security_groups(LoadBalancerArn=arn, SecurityGroups=[group]),
            None,
        )
    if sorted(zone["SubnetId"] for zone in found.get("AvailabilityZones", [])) != subnets:
        plan.change(
            f"set the subnets of load balancer {p.load_balancer} to {', '.join(subnets)}",
            lambda: elb.set_subnets(LoadBalancerArn=arn, Subnets=subnets),
            None,
        )
    return found


def _listener(p: DeployParams, plan: Plan, balancer: str, target_group: str) -> None:
    """One HTTP listener on listener_port forwarding to the target group; the project's listeners on other ports
    (a port change) are deleted once the new one exists, so the service never stops answering."""
    if balancer.startswith("<"):
        plan.change(f"create HTTP listener on port {p.listener_port} forwarding to {target_group}", lambda: None, None)
        return
    elb = client(p, "elbv2")
    forward = [{"Type": "forward", "TargetGroupArn": target_group}]
    listeners = elb.describe_listeners(LoadBalancerArn=balancer)["Listeners"]
    current = [listener for listener in listeners if listener["Port"] == p.listener_port]
    if not current:
        plan.change(
            f"create HTTP listener on port {p.listener_port} forwarding to {target_group_name(p)}",
            lambda: elb.create_listener(
                LoadBalancerArn=balancer, Protocol="HTTP", Port=p.listener_port, DefaultActions=forward,
                Tags=tag_list(p.tags("ecs")),
            ),
            None,
        )  # fmt: skip
    elif not matches(forward, current[0]["DefaultActions"]) or current[0]["Protocol"] != "HTTP":
        arn = current[0]["ListenerArn"]
        plan.change(
            f"forward the listener on port {p.listener_port} to {target_group_name(p)}",
            lambda: elb.modify_listener(ListenerArn=arn, Protocol="HTTP", DefaultActions=forward),
            None,
        )
    others = [listener for listener in listeners if listener["Port"] != p.listener_port]
    if not others:
        return
    tags = {item["ResourceArn"]: tag_dict(item["Tags"]) for item in
            elb.describe_tags(ResourceArns=[o["ListenerArn"] for o in others])["TagDescriptions"]}  # fmt: skip
    for listener in others:
        if p.owns(tags.get(listener["ListenerArn"], {}), "ecs"):
            plan.change(
                f"delete the listener on port {listener['Port']} (the old port)",
                lambda arn=listener["ListenerArn"]: elb.delete_listener(ListenerArn=arn),
                None,
            )


def _remove_old_target_groups(p: DeployParams, plan: Plan, current: str) -> None:
    """The project's target groups other than the current one: left by an earlier container_port."""
    elb = client(p, "elbv2")
    groups = [g for page in elb.get_paginator("describe_target_groups").paginate() for g in page["TargetGroups"]]
    others = [g for g in groups if g["TargetGroupArn"] != current and g["TargetGroupName"].startswith(p.target_group)]
    if not others:
        return
    tags = {item["ResourceArn"]: tag_dict(item["Tags"]) for item in
            elb.describe_tags(ResourceArns=[g["TargetGroupArn"] for g in others])["TagDescriptions"]}  # fmt: skip
    for group in others:
        if p.owns(tags.get(group["TargetGroupArn"], {}), "ecs"):
            plan.change(
                f"delete target group {group['TargetGroupName']} (the old port)",
                lambda arn=group["TargetGroupArn"]: _delete_target_group(elb, arn),
                None,
            )


def _delete_target_group(elb: Any, arn: str) -> None:
    """A group something still forwards to (a listener rule added by hand) is kept, and the next deploy retries."""
    try:
        elb.delete_target_group(TargetGroupArn=arn)
    except elb.exceptions.ResourceInUseException:
        log.warning("target group %s is still in use: kept; the next deploy tries again", arn.rsplit("/", 2)[-2])


def _service(
    p: DeployParams, plan: Plan, task_definition: str, target_group: str, subnets: list[str], group: str
) -> tuple[str, str]:
    """Create the service, or update exactly what differs: the revision, the load balancer binding (a port change),
    the rollout settings, the network.

    desiredCount is never updated: auto scaling owns it once the service runs, and resetting it on every deploy
    would undo a scale-out under load.
    """
    ecs = client(p, "ecs")
    settings: dict[str, Any] = {
        "taskDefinition": task_definition,
        "loadBalancers": [
            {"targetGroupArn": target_group, "containerName": p.ecs_service, "containerPort": p.container_port}
        ],
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
    found = [s for s in ecs.describe_services(cluster=p.ecs_cluster, services=[p.ecs_service])["services"]
             if s["status"] == "ACTIVE"] if not plan.dry_run or _cluster_exists(p) else []  # fmt: skip
    if not found:
        create = lambda: ecs.create_service(  # noqa: E731
            cluster=p.ecs_cluster, serviceName=p.ecs_service, launchType="FARGATE", desiredCount=p.desired_tasks,
            deploymentController={"type": "ECS"},  # rolling updates
            tags=tag_list(p.tags("ecs"), "key", "value"),
            propagateTags="SERVICE",  # the tasks carry the service's tags, for cost allocation
            **settings,
        )["service"]  # fmt: skip
        service = plan.change(
            f"create Fargate service {p.ecs_service}: {p.desired_tasks} tasks of {task_definition.rsplit('/', 1)[-1]}, "
            f"rolling update {p.min_healthy_percent}-{p.max_percent} %, circuit breaker with rollback",
            create,
            {"serviceArn": f"<service {p.ecs_service}>"},
        )
        if plan.dry_run:
            return "created", service["serviceArn"]
        # A service may come back without a setting it was created with (moto drops deploymentConfiguration):
        # the comparison below puts back whatever did not stick.
        action, found = "created", [service]
    else:
        action = "updated"
    differ = {key: value for key, value in settings.items() if not matches(value, found[0].get(key))}
    if differ:
        plan.change(
            f"update ECS service {p.ecs_service}: {', '.join(sorted(differ))}",
            lambda: ecs.update_service(cluster=p.ecs_cluster, service=p.ecs_service, **differ),
            None,
        )
    elif action == "updated":
        action = "unchanged"
    return action, found[0]["serviceArn"]


def _cluster_exists(p: DeployParams) -> bool:
    found = client(p, "ecs").describe_clusters(clusters=[p.ecs_cluster])["clusters"]
    return any(cluster["status"] == "ACTIVE" for cluster in found)


def _autoscaling(p: DeployParams, plan: Plan) -> None:
    scaling = client(p, "application-autoscaling")
    target = {
        "ServiceNamespace": "ecs",
        "ResourceId": f"service/{p.ecs_cluster}/{p.ecs_service}",
        "ScalableDimension": "ecs:service:DesiredCount",
    }
    found = scaling.describe_scalable_targets(ServiceNamespace="ecs", ResourceIds=[target["ResourceId"]])
    limits = {"MinCapacity": p.min_tasks, "MaxCapacity": p.max_tasks}
    if not any(matches(limits, item) for item in found["ScalableTargets"]):
        plan.change(
            f"scale {p.min_tasks}-{p.max_tasks} tasks",
            lambda: scaling.register_scalable_target(**target, **limits),
            None,
        )
    policy = {
        "PolicyName": f"{p.ecs_service}-cpu",
        "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": {
            "TargetValue": p.target_cpu_percent,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"},
            "ScaleInCooldown": p.scale_in_cooldown_s,
            "ScaleOutCooldown": p.scale_out_cooldown_s,
        },
    }
    policies = scaling.describe_scaling_policies(ServiceNamespace="ecs", ResourceId=target["ResourceId"])
    if not any(matches(policy, item) for item in policies["ScalingPolicies"]):
        plan.change(
            f"track {p.target_cpu_percent} % average CPU",
            lambda: scaling.put_scaling_policy(**policy, **target),
            None,
        )


def wait_for_rollout(p: DeployParams, task_definition: str) -> None:
    """Poll until the service runs only `task_definition` with every desired task, or the circuit breaker rolled it
    back; log progress each poll; a timeout is an error naming where the rollout stood.

    Not boto3's `services_stable` waiter: it waits silently for one condition (one deployment, running == desired),
    and a service the circuit breaker rolled back satisfies it too, on the old revision, so the waiter would
    report a failed rollout as success. This loop checks that condition and also which revision won.
    """
    ecs = client(p, "ecs")
    revision = task_definition.rsplit("/", 1)[-1]
    deadline = time.monotonic() + p.ecs_wait_timeout_s
    while True:
        (service,) = ecs.describe_services(cluster=p.ecs_cluster, services=[p.ecs_service])["services"]
        deployments = service["deployments"]
        ours = next((d for d in deployments if d["taskDefinition"] == task_definition), None)
        if service["taskDefinition"] != task_definition or (ours and ours.get("rolloutState") == "FAILED"):
            reason = (ours or {}).get("rolloutStateReason", "its tasks did not turn healthy")
            raise PipelineError(
                f"ECS service {p.ecs_service} was rolled back to {service['taskDefinition'].rsplit('/', 1)[-1]} by "
                f"the circuit breaker: {revision} failed ({reason}); see the service's events"
            )
        running, desired = service["runningCount"], service["desiredCount"]
        primary = next((d for d in deployments if d.get("status") == "PRIMARY"), {})
        if len(deployments) == 1 and running == desired and primary.get("rolloutState", "COMPLETED") == "COMPLETED":
            log.info("ECS service %s is stable: %d/%d tasks running %s", p.ecs_service, running, desired, revision)
            return
        left = deadline - time.monotonic()
        if left <= 0:
            raise PipelineError(
                f"ECS service {p.ecs_service} not stable after {p.ecs_wait_timeout_s} s: {running}/{desired} tasks "
                f"running, {len(deployments)} deployment(s), rollout {primary.get('rolloutState', 'unknown')}; "
                "rerun `sentiment deploy ecs` to keep waiting (deploy.ecs_wait_timeout_s)"
            )
        log.info(
            "waiting for %s: %d/%d tasks running, %d deployment(s), rollout %s; %.0f s left",
            revision, running, desired, len(deployments), primary.get("rolloutState", "unknown"), left,
        )  # fmt: skip
        time.sleep(min(p.wait_poll_s, left))
