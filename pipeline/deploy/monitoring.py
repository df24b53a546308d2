"""CloudWatch alarms and a dashboard for the ECS service, made (and converged) by `sentiment deploy ecs`.

Four alarms, each on what a user of the API would notice first:
- 5xx rate: the share of requests answered 5xx, by the tasks or by the load balancer (no healthy task at all).
- p99 latency: the slowest 1 % of responses, as the load balancer times them.
- unhealthy hosts: tasks failing the /readyz health check (crash-looping, or out of memory).
- positive-rate shift: the share of positive answers in the sampled prediction log (pipeline/serving/observe.py,
  through metric filters on the task's log group) far from the expected rate: the model or its input changed.

The dashboard has no tags in AWS; a text widget names the project and stage, and destroy deletes a dashboard of
this name only when that marker is its own.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

from pipeline.deploy.settings import DeployParams, Plan, client, matches
from pipeline.deploy.tags import tag_dict, tag_list

log = logging.getLogger(__name__)

NAMESPACE = "MovieReviewsSentiment"  # the metric filters' namespace; dimensioned by project and stage
ALB = "AWS/ApplicationELB"


def marker(p: DeployParams) -> str:
    return f"Made by `sentiment deploy ecs` for project {p.project}, stage {p.stage}: `sentiment deploy destroy ecs`"


def filters(p: DeployParams) -> list[dict[str, Any]]:
    """Counts of sampled predictions, all and positive, from the JSON lines the tasks write to their log group."""
    dimensions = {"Project": "$.model"}  # any field: CloudWatch needs one per dimension; model tells revisions apart
    return [
        {
            "filterName": f"{p.ecs_service}-{name}",
            "filterPattern": pattern,
            "metricTransformations": [
                {"metricName": metric, "metricNamespace": NAMESPACE, "metricValue": "1", "dimensions": dimensions}
            ],
        }
        for name, pattern, metric in (
            ("predictions", '{ $.event = "prediction" }', "Predictions"),
            ("positive", '{ $.event = "prediction" && $.label = "positive" }', "PositivePredictions"),
        )
    ]


def alarms(p: DeployParams, balancer: str, target_group: str) -> list[dict[str, Any]]:
    """The alarms' settings; `balancer` and `target_group` are the ARN suffixes CloudWatch dimensions use."""
    on_balancer = [{"Name": "LoadBalancer", "Value": balancer}]
    # Always given, empty without a topic: a topic removed from deploy.yaml is then removed from the alarms too.
    topics = [p.alarm_topic_arn] if p.alarm_topic_arn else []
    actions = {"AlarmActions": topics, "OKActions": topics}

    def alb(metric_id: str, name: str, dimensions: list[dict[str, str]] = on_balancer) -> dict[str, Any]:
        stat = {"Metric": {"Namespace": ALB, "MetricName": name, "Dimensions": dimensions}, "Period": 300}
        return {"Id": metric_id, "MetricStat": {**stat, "Stat": "Sum"}, "ReturnData": False}

    def logged(metric_id: str, name: str) -> dict[str, Any]:
        stat = {"Metric": {"Namespace": NAMESPACE, "MetricName": name}, "Period": 3600, "Stat": "Sum"}
        return {"Id": metric_id, "MetricStat": stat, "ReturnData": False}

    common = {"ActionsEnabled": bool(topics), "TreatMissingData": "notBreaching", **actions}
    return [
        {
            "AlarmName": f"{p.ecs_service}-5xx-rate",
            "AlarmDescription": f"over {p.alarm_5xx_percent} % of requests answered 5xx in 5 minutes",
            "Metrics": [
                alb("tasks", "HTTPCode_Target_5XX_Count"),
                alb("balancer", "HTTPCode_ELB_5XX_Count"),
                alb("requests", "RequestCount"),
                {
                    "Id": "rate",
                    "Expression": "100 * (tasks + balancer) / requests",
                    "Label": "5xx %",
                    "ReturnData": True,
                },
            ],  # fmt: skip
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": p.alarm_5xx_percent,
            "EvaluationPeriods": 1,
            **common,
        },
        {
            "AlarmName": f"{p.ecs_service}-p99-latency",
            "AlarmDescription": f"the slowest 1 % of responses over {p.alarm_p99_latency_s} s, 3 minutes running",
            "Namespace": ALB,
            "MetricName": "TargetResponseTime",
            "Dimensions": on_balancer,
            "ExtendedStatistic": "p99",
            "Period": 60,
            "EvaluationPeriods": 3,
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": p.alarm_p99_latency_s,
            **common,
        },
        {
            "AlarmName": f"{p.ecs_service}-unhealthy-hosts",
            "AlarmDescription": "a task failed its health check (/readyz) for 3 minutes running",
            "Namespace": ALB,
            "MetricName": "UnHealthyHostCount",
            "Dimensions": [*on_balancer, {"Name": "TargetGroup", "Value": target_group}],
            "Statistic": "Maximum",
            "Period": 60,
            "EvaluationPeriods": 3,
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": 0.0,
            **common,
        },
        {
            "AlarmName": f"{p.ecs_service}-positive-rate",
            "AlarmDescription": f"the positive share of logged predictions in an hour is more than "
            f"{p.positive_rate_band} from {p.expected_positive_rate}: check `sentiment drift`",
            "Metrics": [
                logged("positive", "PositivePredictions"),
                logged("all", "Predictions"),
                {
                    "Id": "shift",
                    "Expression": f"ABS(positive / all - {p.expected_positive_rate})",
                    "Label": "positive-rate shift",
                    "ReturnData": True,
                },
            ],  # fmt: skip
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": p.positive_rate_band,
            "EvaluationPeriods": 1,
            **common,
        },
    ]


def dashboard(p: DeployParams, balancer: str, target_group: str) -> dict[str, Any]:
    on_balancer = ["LoadBalancer", balancer]

    def graph(title: str, metrics: list[list[Any]], x: int, y: int, **extra: Any) -> dict[str, Any]:
        properties = {"title": title, "region": p.region, "metrics": metrics, "view": "timeSeries", **extra}
        return {"type": "metric", "x": x, "y": y, "width": 12, "height": 6, "properties": properties}

    return {
        "widgets": [
            {"type": "text", "x": 0, "y": 0, "width": 24, "height": 1, "properties": {"markdown": marker(p)}},
            graph("Requests and 5xx", [[ALB, "RequestCount", *on_balancer], [ALB, "HTTPCode_Target_5XX_Count",
                  *on_balancer], [ALB, "HTTPCode_ELB_5XX_Count", *on_balancer]], 0, 1, stat="Sum", period=60),
            graph("Latency p50 / p99 (s)", [[ALB, "TargetResponseTime", *on_balancer, {"stat": "p50"}],
                  [ALB, "TargetResponseTime", *on_balancer, {"stat": "p99"}]], 12, 1, period=60),
            graph("Healthy and unhealthy tasks", [[ALB, "HealthyHostCount", "TargetGroup", target_group, *on_balancer],
                  [ALB, "UnHealthyHostCount", "TargetGroup", target_group, *on_balancer]], 0, 7, stat="Maximum",
                  period=60),
            graph("Positive share of logged predictions", [[{"expression": "positive / all", "label": "positive rate"}],
                  [NAMESPACE, "PositivePredictions", {"id": "positive", "visible": False}],
                  [NAMESPACE, "Predictions", {"id": "all", "visible": False}]], 12, 7, stat="Sum", period=3600),
        ]
    }  # fmt: skip


def dimension(arn: str) -> str:
    """CloudWatch names an ALB `app/<name>/<id>` and a target group `targetgroup/<name>/<id>`: their ARNs' tails."""
    return arn.split(":", 5)[-1].removeprefix("loadbalancer/") if arn.startswith("arn:") else arn


def monitor(p: DeployParams, plan: Plan, balancer_arn: str, target_group_arn: str) -> None:
    """Converge the metric filters, the alarms and the dashboard on the settings."""
    logs, watch = client(p, "logs"), client(p, "cloudwatch")
    balancer, target_group = dimension(balancer_arn), dimension(target_group_arn)
    found = {} if plan.dry_run and balancer_arn.startswith("<") else _filters(logs, p)
    for wanted in filters(p):
        if not matches(wanted, found.get(wanted["filterName"])):
            plan.change(
                f"count {wanted['metricTransformations'][0]['metricName']} from log group {p.log_group}",
                lambda wanted=wanted: logs.put_metric_filter(logGroupName=p.log_group, **wanted),
                None,
            )
    names = [f"{p.ecs_service}-{suffix}" for suffix in ("5xx-rate", "p99-latency", "unhealthy-hosts", "positive-rate")]
    existing = {a["AlarmName"]: a for a in watch.describe_alarms(AlarmNames=names)["MetricAlarms"]}
    for wanted in alarms(p, balancer, target_group):
        if not matches(wanted, existing.get(wanted["AlarmName"])):
            plan.change(
                f"alarm {wanted['AlarmName']}: {wanted['AlarmDescription']}",
                lambda wanted=wanted: watch.put_metric_alarm(**wanted, Tags=tag_list(p.tags("ecs"))),
                None,
            )
    body = dashboard(p, balancer, target_group)
    try:
        current = json.loads(watch.get_dashboard(DashboardName=p.ecs_service)["DashboardBody"])
    except watch.exceptions.ResourceNotFound:
        current = None
    if current != body:
        plan.change(
            f"dashboard {p.ecs_service}: requests, 5xx, latency, task health, positive rate",
            lambda: watch.put_dashboard(DashboardName=p.ecs_service, DashboardBody=json.dumps(body)),
            None,
        )


def _filters(logs: Any, p: DeployParams) -> dict[str, dict[str, Any]]:
    try:
        found = logs.describe_metric_filters(logGroupName=p.log_group)["metricFilters"]
    except logs.exceptions.ResourceNotFoundException:
        return {}
    return {item["filterName"]: item for item in found}


def find(p: DeployParams, kept: list[str]) -> Iterator[Any]:
    """For destroy: the project's alarms (by tag) and its dashboard (by its marker)."""
    from pipeline.deploy.destroy import Doomed

    watch = client(p, "cloudwatch")
    for alarm in watch.describe_alarms(AlarmNamePrefix=f"{p.ecs_service}-")["MetricAlarms"]:
        tags = tag_dict(watch.list_tags_for_resource(ResourceARN=alarm["AlarmArn"])["Tags"])
        if p.owns(tags, "ecs"):
            yield Doomed("alarm", alarm["AlarmName"],
                         lambda name=alarm["AlarmName"]: watch.delete_alarms(AlarmNames=[name]))  # fmt: skip
        else:
            kept.append(f"alarm {alarm['AlarmName']}")
    try:
        body = json.loads(watch.get_dashboard(DashboardName=p.ecs_service)["DashboardBody"])
    except watch.exceptions.ResourceNotFound:
        return
    widgets = body.get("widgets", [])
    if widgets and widgets[0].get("properties", {}).get("markdown") == marker(p):
        yield Doomed("dashboard", p.ecs_service, lambda: watch.delete_dashboards(DashboardNames=[p.ecs_service]))
    else:
        kept.append(f"dashboard {p.ecs_service}")
