"""Fidelity patches (k)-(o), a release group's scaling (issue 16): test_stock_* asserts
moto 5.2.5's wrong behaviour (so a moto upgrade that fixes it fails here), test_shim_*
the AWS behaviour drydock relies on."""

from __future__ import annotations

import datetime as dt
from typing import Any

from shim_scaling import next_run
from shimtest import Aws, Server

HOOK = {
    "LifecycleHookName": "drydock-drain",
    "LifecycleTransition": "autoscaling:EC2_INSTANCE_TERMINATING",
    "HeartbeatTimeout": 120,
    "DefaultResult": "CONTINUE",
}
TARGET = {
    "PredefinedMetricSpecification": {"PredefinedMetricType": "ASGAverageCPUUtilization"},
    "TargetValue": 60.0,
}


def _group(aws: Aws, tag: str, hooks: bool = False) -> str:
    lt = aws.launch_template(aws.amis[0], tag=f"lt-{tag}")
    params = aws.group_params(aws.name(tag), lt, 1, None)
    if hooks:
        params["LifecycleHookSpecificationList"] = [HOOK]
    aws.asg.create_auto_scaling_group(**params)
    return params["AutoScalingGroupName"]


def _scale(aws: Aws, group: str, target: float = 60.0) -> None:
    aws.asg.put_scaling_policy(
        AutoScalingGroupName=group,
        PolicyName="drydock-cpu",
        PolicyType="TargetTrackingScaling",
        TargetTrackingConfiguration={**TARGET, "TargetValue": target},
    )
    aws.asg.put_scheduled_update_group_action(
        AutoScalingGroupName=group,
        ScheduledActionName="business-hours",
        Recurrence="0 7 * * MON-FRI",
        TimeZone="Europe/Berlin",
        DesiredCapacity=2,
    )


def _policies(aws: Aws, group: str | None = None) -> list[dict[str, Any]]:
    kw = {"AutoScalingGroupName": group} if group else {}
    return aws.asg.describe_policies(**kw)["ScalingPolicies"]


def _actions(aws: Aws, group: str | None = None) -> list[dict[str, Any]]:
    kw = {"AutoScalingGroupName": group} if group else {}
    return aws.asg.describe_scheduled_actions(**kw)["ScheduledUpdateGroupActions"]


# (k) ---------------------------------------------------------------------
def test_stock_ignores_lifecycle_hook_specifications(stock: Server) -> None:
    aws = Aws(stock)
    g = _group(aws, "hooks", hooks=True)
    assert aws.asg.describe_lifecycle_hooks(AutoScalingGroupName=g)["LifecycleHooks"] == []


def test_shim_creates_the_hooks_with_the_group(shim: Server) -> None:
    aws = Aws(shim)
    g = _group(aws, "hooks", hooks=True)
    hooks = aws.asg.describe_lifecycle_hooks(AutoScalingGroupName=g)["LifecycleHooks"]
    assert [(h["LifecycleHookName"], h["LifecycleTransition"], h["HeartbeatTimeout"], h["DefaultResult"]) for h in hooks] == [
        ("drydock-drain", "autoscaling:EC2_INSTANCE_TERMINATING", 120, "CONTINUE")
    ]


# (l) ---------------------------------------------------------------------
def test_stock_a_second_group_takes_the_first_groups_policy_and_action(stock: Server) -> None:
    aws = Aws(stock)
    a, b = _group(aws, "a"), _group(aws, "b")
    _scale(aws, a, 50.0)
    _scale(aws, b, 70.0)
    assert _policies(aws, a) == [] and _actions(aws, a) == []


def test_shim_names_are_per_group(shim: Server) -> None:
    aws = Aws(shim)
    a, b = _group(aws, "a"), _group(aws, "b")
    _scale(aws, a, 50.0)
    _scale(aws, b, 70.0)
    _scale(aws, b, 75.0)  # an upsert: still one of each
    assert [p["TargetTrackingConfiguration"]["TargetValue"] for p in _policies(aws, a)] == [50.0]
    assert [p["TargetTrackingConfiguration"]["TargetValue"] for p in _policies(aws, b)] == [75.0]
    assert [x["ScheduledActionName"] for x in _actions(aws, a)] == ["business-hours"]
    assert len(_actions(aws, b)) == 1
    aws.asg.delete_scheduled_action(AutoScalingGroupName=a, ScheduledActionName="business-hours")
    assert _actions(aws, a) == [] and len(_actions(aws, b)) == 1


# (m) ---------------------------------------------------------------------
def test_stock_deleting_a_group_leaves_its_scaling_behind(stock: Server) -> None:
    aws = Aws(stock)
    g = _group(aws, "gone")
    _scale(aws, g)
    aws.asg.delete_auto_scaling_group(AutoScalingGroupName=g, ForceDelete=True)
    assert any(p["AutoScalingGroupName"] == g for p in _policies(aws))


def test_shim_deleting_a_group_deletes_its_policies_actions_and_hooks(shim: Server) -> None:
    aws = Aws(shim)
    g, other = _group(aws, "gone", hooks=True), _group(aws, "stays", hooks=True)
    _scale(aws, g)
    _scale(aws, other)
    aws.asg.delete_auto_scaling_group(AutoScalingGroupName=g, ForceDelete=True)
    assert not any(p["AutoScalingGroupName"] == g for p in _policies(aws))
    assert not any(a["AutoScalingGroupName"] == g for a in _actions(aws))
    assert aws.asg.describe_lifecycle_hooks(AutoScalingGroupName=g)["LifecycleHooks"] == []
    assert len(_policies(aws, other)) == 1 and len(_actions(aws, other)) == 1
    assert len(aws.asg.describe_lifecycle_hooks(AutoScalingGroupName=other)["LifecycleHooks"]) == 1


# (n) ---------------------------------------------------------------------
def test_stock_enable_metrics_without_a_list_enables_none(stock: Server) -> None:
    aws = Aws(stock)
    g = _group(aws, "metrics")
    aws.asg.enable_metrics_collection(AutoScalingGroupName=g, Granularity="1Minute")
    assert aws.group(g).get("EnabledMetrics", []) == []


def test_shim_enable_metrics_without_a_list_enables_every_group_metric(shim: Server) -> None:
    aws = Aws(shim)
    g = _group(aws, "metrics")
    aws.asg.enable_metrics_collection(AutoScalingGroupName=g, Granularity="1Minute")
    enabled = {m["Metric"]: m["Granularity"] for m in aws.group(g)["EnabledMetrics"]}
    assert enabled["GroupInServiceInstances"] == "1Minute" and len(enabled) >= 8


# (o) ---------------------------------------------------------------------
def test_stock_a_recurring_action_has_no_start_time(stock: Server) -> None:
    aws = Aws(stock)
    g = _group(aws, "sched")
    _scale(aws, g)
    assert "StartTime" not in _actions(aws, g)[0]


def test_shim_a_recurring_action_shows_its_next_run(shim: Server) -> None:
    aws = Aws(shim)
    g = _group(aws, "sched")
    _scale(aws, g)
    start = _actions(aws, g)[0]["StartTime"]
    now = dt.datetime.now(dt.timezone.utc)
    assert now < start <= now + dt.timedelta(days=4)
    assert start.weekday() < 5 and start.minute == 0, start


def test_next_run_follows_the_zone_and_the_day_fields() -> None:
    utc = dt.timezone.utc
    # Saturday 2026-11-28 12:00 UTC: the next weekday 07:00 in Berlin (UTC+1) is Monday 06:00 UTC.
    sat = dt.datetime(2026, 11, 28, 12, 0, tzinfo=utc)
    assert next_run("0 7 * * MON-FRI", "Europe/Berlin", sat) == dt.datetime(2026, 11, 30, 6, 0, tzinfo=utc)
    assert next_run("*/15 * * * *", None, sat) == dt.datetime(2026, 11, 28, 12, 15, tzinfo=utc)
    assert next_run("30 22 1 JAN *", "UTC", sat) == dt.datetime(2027, 1, 1, 22, 30, tzinfo=utc)
    # Both day fields restricted: either matches (the 1st, or a Sunday).
    assert next_run("0 0 1 * 0", "UTC", sat) == dt.datetime(2026, 11, 29, 0, 0, tzinfo=utc)
    assert next_run("0 0 31 2 *", "UTC", sat) is None
