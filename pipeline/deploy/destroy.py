"""Tear down what the deploys made. Run: sentiment deploy destroy ecs|site|lambda|storage|all [--yes]

Two passes: `find` reads what exists and keeps only resources tagged as this project's, stage's and target's
(pipeline/deploy/tags.py); `destroy` lists them, asks, then deletes them in dependency order (a service before
its load balancer, a load balancer before its security groups, a role last). A resource that exists under the
configured name without the tags is named and kept. Nothing found is a no-op, so a second run changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from pipeline.deploy.settings import DeployParams, aws_errors, client
from pipeline.deploy.tags import tag_dict
from pipeline.errors import PipelineError

log = logging.getLogger(__name__)

TARGETS = ("ecs", "site", "lambda", "storage", "all")
ELB_TAGS_PER_CALL = 20  # DescribeTags takes at most 20 ARNs


@dataclass(frozen=True)
class Doomed:
    """One resource to delete: what it is, its name, and the calls that delete it."""

    kind: str
    name: str
    delete: Callable[[], None]

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"


def _not_found(error: Exception) -> bool:
    code = getattr(error, "response", {}).get("Error", {}).get("Code", "")
    return "NotFound" in code or "NoSuch" in code or code in ("404", "ResourceNotFoundException")


def _wait(p: DeployParams, service: str, waiter: str, timeout_s: float, **kwargs: Any) -> None:
    attempts = max(1, int(timeout_s / p.wait_poll_s))
    config = {"Delay": p.wait_poll_s, "MaxAttempts": attempts}
    client(p, service).get_waiter(waiter).wait(WaiterConfig=config, **kwargs)


def find(p: DeployParams, targets: tuple[str, ...]) -> tuple[list[Doomed], list[str]]:
    """What destroy would delete, in order, and what it keeps because its tags are not the project's."""
    doomed: list[Doomed] = []
    kept: list[str] = []
    finders = {"ecs": _find_ecs, "lambda": _find_lambda, "site": _find_site, "storage": _find_storage}
    with aws_errors("finding what to destroy"):
        for target in targets:
            for item in finders[target](p, kept):
                doomed.append(item)
    return doomed, kept


def destroy(p: DeployParams, targets: tuple[str, ...], confirm: Callable[[list[Doomed]], bool]) -> list[Doomed]:
    """Delete what `find` returns, once `confirm` agrees; returns what was deleted."""
    doomed, kept = find(p, targets)
    for name in kept:
        log.info("keeping %s: it exists but is not tagged project=%s stage=%s", name, p.project, p.stage)
    if not doomed:
        log.info("nothing to destroy for %s (project=%s, stage=%s)", ", ".join(targets), p.project, p.stage)
        return []
    for item in doomed:
        log.info("will delete %s", item)
    if not confirm(doomed):
        raise PipelineError("not confirmed; nothing was deleted")
    for item in doomed:
        with aws_errors(f"deleting {item}"):
            item.delete()
        log.info("deleted %s", item)
    return doomed


def _owned_role(p: DeployParams, name: str, component: str, kept: list[str]) -> Iterator[Doomed]:
    iam = client(p, "iam")
    try:
        tags = tag_dict(iam.list_role_tags(RoleName=name)["Tags"])
    except iam.exceptions.NoSuchEntityException:
        return
    if not p.owns(tags, component):
        kept.append(f"IAM role {name}")
        return

    def delete() -> None:
        for policy in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
            iam.detach_role_policy(RoleName=name, PolicyArn=policy["PolicyArn"])
        for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]:
            iam.delete_role_policy(RoleName=name, PolicyName=policy)
        iam.delete_role(RoleName=name)

    yield Doomed("IAM role", name, delete)


def _find_ecs(p: DeployParams, kept: list[str]) -> Iterator[Doomed]:
    """In dependency order: alarms and dashboard, scaling, service, load balancer, target groups, task
    definitions, cluster, security groups, log group (its metric filters go with it), role."""
    from pipeline.deploy import monitoring

    yield from monitoring.find(p, kept)
    ecs = client(p, "ecs")
    clusters = [c for c in ecs.describe_clusters(clusters=[p.ecs_cluster])["clusters"] if c["status"] == "ACTIVE"]
    if clusters:
        services = ecs.describe_services(cluster=p.ecs_cluster, services=[p.ecs_service])["services"]
        for service in (s for s in services if s["status"] != "INACTIVE"):
            tags = tag_dict(ecs.list_tags_for_resource(resourceArn=service["serviceArn"])["tags"], "key", "value")
            if not p.owns(tags, "ecs"):
                kept.append(f"ECS service {p.ecs_service}")
                continue
            yield from _find_scaling(p)
            yield Doomed("ECS service", p.ecs_service, lambda: _delete_service(p))
    yield from _find_elb(p, kept)
    families = ecs.get_paginator("list_task_definitions").paginate(familyPrefix=p.ecs_task_family, status="ACTIVE")
    for arn in (arn for page in families for arn in page["taskDefinitionArns"]):
        if arn.rsplit("/", 1)[-1].rsplit(":", 1)[0] != p.ecs_task_family:
            continue  # the prefix also matches longer family names
        if p.owns(tag_dict(ecs.list_tags_for_resource(resourceArn=arn)["tags"], "key", "value"), "ecs"):
            yield Doomed("task definition", arn.rsplit("/", 1)[-1], lambda arn=arn: _deregister(p, arn))
        else:
            kept.append(f"task definition {arn.rsplit('/', 1)[-1]}")
    for cluster in clusters:
        tags = tag_dict(ecs.list_tags_for_resource(resourceArn=cluster["clusterArn"])["tags"], "key", "value")
        others = [arn for arn in ecs.list_services(cluster=p.ecs_cluster)["serviceArns"]
                  if arn.rsplit("/", 1)[-1] != p.ecs_service]  # fmt: skip
        if others:
            kept.append(f"ECS cluster {p.ecs_cluster} (it runs {len(others)} other service(s))")
        elif p.owns(tags, "ecs"):
            yield Doomed("ECS cluster", p.ecs_cluster, lambda: ecs.delete_cluster(cluster=p.ecs_cluster))
        else:
            kept.append(f"ECS cluster {p.ecs_cluster}")
    yield from _find_security_groups(p)
    yield from _find_log_group(p, kept)
    yield from _owned_role(p, p.ecs_execution_role, "ecs", kept)


def _find_scaling(p: DeployParams) -> Iterator[Doomed]:
    """Application Auto Scaling keeps no tags: the target goes with the service it scales, which is ours."""
    scaling = client(p, "application-autoscaling")
    resource = f"service/{p.ecs_cluster}/{p.ecs_service}"
    found = scaling.describe_scalable_targets(ServiceNamespace="ecs", ResourceIds=[resource])["ScalableTargets"]
    for target in found:

        def delete(target: dict[str, Any] = target) -> None:
            scaling.deregister_scalable_target(
                ServiceNamespace="ecs", ResourceId=resource, ScalableDimension=target["ScalableDimension"]
            )

        yield Doomed("auto scaling target", resource, delete)


def _delete_service(p: DeployParams) -> None:
    """Scale to zero and delete; the wait lets the tasks' network interfaces go before their security group."""
    ecs = client(p, "ecs")
    ecs.update_service(cluster=p.ecs_cluster, service=p.ecs_service, desiredCount=0)
    ecs.delete_service(cluster=p.ecs_cluster, service=p.ecs_service, force=True)
    _wait(p, "ecs", "services_inactive", p.ecs_wait_timeout_s, cluster=p.ecs_cluster, services=[p.ecs_service])


def _deregister(p: DeployParams, arn: str) -> None:
    """Deregistered revisions stay listed as INACTIVE for ever; deleting them too leaves the account clean."""
    ecs = client(p, "ecs")
    ecs.deregister_task_definition(taskDefinition=arn)
    ecs.delete_task_definitions(taskDefinitions=[arn])


def _elb_tags(elb: Any, arns: list[str]) -> dict[str, dict[str, str]]:
    tags: dict[str, dict[str, str]] = {}
    for start in range(0, len(arns), ELB_TAGS_PER_CALL):
        for item in elb.describe_tags(ResourceArns=arns[start : start + ELB_TAGS_PER_CALL])["TagDescriptions"]:
            tags[item["ResourceArn"]] = tag_dict(item["Tags"])
    return tags


def _find_elb(p: DeployParams, kept: list[str]) -> Iterator[Doomed]:
    """Load balancers (their listeners go with them), then every target group tagged as ours, whatever its name:
    a port change leaves none behind, but an interrupted deploy might."""
    elb = client(p, "elbv2")
    balancers = [b for page in elb.get_paginator("describe_load_balancers").paginate() for b in page["LoadBalancers"]]
    tags = _elb_tags(elb, [b["LoadBalancerArn"] for b in balancers])
    for balancer in balancers:
        arn, name = balancer["LoadBalancerArn"], balancer["LoadBalancerName"]
        if p.owns(tags[arn], "ecs"):

            def delete(arn: str = arn) -> None:
                elb.delete_load_balancer(LoadBalancerArn=arn)
                _wait(p, "elbv2", "load_balancers_deleted", p.ecs_wait_timeout_s, LoadBalancerArns=[arn])

            yield Doomed("load balancer", name, delete)
        elif name == p.load_balancer:
            kept.append(f"load balancer {name}")
            # Ours on a load balancer that is not: the listener the deploy added to it.
            listeners = elb.describe_listeners(LoadBalancerArn=arn)["Listeners"]
            listener_tags = _elb_tags(elb, [listener["ListenerArn"] for listener in listeners])
            for listener in listeners:
                if p.owns(listener_tags[listener["ListenerArn"]], "ecs"):
                    yield Doomed(
                        "listener",
                        f"{name}:{listener['Port']}",
                        lambda arn=listener["ListenerArn"]: elb.delete_listener(ListenerArn=arn),
                    )
    groups = [g for page in elb.get_paginator("describe_target_groups").paginate() for g in page["TargetGroups"]]
    tags = _elb_tags(elb, [g["TargetGroupArn"] for g in groups])
    for group in groups:
        if p.owns(tags[group["TargetGroupArn"]], "ecs"):
            yield Doomed(
                "target group",
                group["TargetGroupName"],
                lambda arn=group["TargetGroupArn"]: elb.delete_target_group(TargetGroupArn=arn),
            )
        elif group["TargetGroupName"].startswith(p.target_group):
            kept.append(f"target group {group['TargetGroupName']}")


def _find_security_groups(p: DeployParams) -> Iterator[Doomed]:
    """Selected by tag. Their rules go first, as one step: the tasks' group names the load balancer's, and a group
    another one's rule names cannot be deleted."""
    ec2 = client(p, "ec2")
    filters = [{"Name": f"tag:{key}", "Values": [value]} for key, value in p.tags("ecs").items() if key != "git-commit"]
    groups = ec2.describe_security_groups(Filters=filters)["SecurityGroups"]
    if not groups:
        return

    def revoke() -> None:
        for group in groups:
            if group["IpPermissions"]:
                ec2.revoke_security_group_ingress(GroupId=group["GroupId"], IpPermissions=group["IpPermissions"])

    yield Doomed("rules of security groups", ", ".join(g["GroupName"] for g in groups), revoke)
    for group in groups:
        yield Doomed(
            "security group", group["GroupName"], lambda gid=group["GroupId"]: ec2.delete_security_group(GroupId=gid)
        )


def _find_log_group(p: DeployParams, kept: list[str]) -> Iterator[Doomed]:
    logs = client(p, "logs")
    for group in logs.describe_log_groups(logGroupNamePrefix=p.log_group)["logGroups"]:
        if group["logGroupName"] != p.log_group:
            continue
        if p.owns(logs.list_tags_log_group(logGroupName=p.log_group)["tags"], "ecs"):
            yield Doomed("log group", p.log_group, lambda: logs.delete_log_group(logGroupName=p.log_group))
        else:
            kept.append(f"log group {p.log_group}")


def _find_lambda(p: DeployParams, kept: list[str]) -> Iterator[Doomed]:
    """The function (its URL and permission go with it), then its role."""
    lam = client(p, "lambda")
    try:
        tags = lam.get_function(FunctionName=p.lambda_function).get("Tags", {})
    except lam.exceptions.ResourceNotFoundException:
        tags = None
    if tags is not None:
        if p.owns(tags, "lambda"):
            yield Doomed(
                "Lambda function", p.lambda_function, lambda: lam.delete_function(FunctionName=p.lambda_function)
            )
        else:
            kept.append(f"Lambda function {p.lambda_function}")
    yield from _owned_role(p, p.lambda_role, "lambda", kept)


def _find_bucket(p: DeployParams, bucket: str | None, component: str, kept: list[str]) -> Iterator[Doomed]:
    if not bucket:
        return
    s3 = client(p, "s3")
    try:
        tags = tag_dict(s3.get_bucket_tagging(Bucket=bucket)["TagSet"])
    except s3.exceptions.ClientError as error:
        code = error.response["Error"]["Code"]
        if code == "NoSuchTagSet":
            kept.append(f"S3 bucket {bucket}")
            return
        if _not_found(error):
            return
        raise
    if not p.owns(tags, component):
        kept.append(f"S3 bucket {bucket}")
        return

    def delete() -> None:
        """Every object version first: S3 deletes only an empty bucket."""
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            keys = [
                {"Key": item["Key"], "VersionId": item["VersionId"]}
                for item in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
            ]
            if keys:
                s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
        s3.delete_bucket(Bucket=bucket)

    yield Doomed("S3 bucket (with every object)", bucket, delete)


def _find_site(p: DeployParams, kept: list[str]) -> Iterator[Doomed]:
    yield from _find_bucket(p, p.site_bucket, "site", kept)


def _find_storage(p: DeployParams, kept: list[str]) -> Iterator[Doomed]:
    yield from _find_bucket(p, p.storage_bucket, "storage", kept)


def targets_of(target: str, delete_storage: bool) -> tuple[str, ...]:
    """`all` is every target but storage, unless storage is asked for: DVC's and MLflow's data outlive a trial."""
    if target == "storage" and not delete_storage:
        raise PipelineError("storage holds the DVC remote and MLflow artifacts: pass --delete-storage to delete it")
    if target == "all":
        return ("ecs", "lambda", "site", *(("storage",) if delete_storage else ()))
    return (target,)
