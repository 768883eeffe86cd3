"""Fidelity patches (k)-(o) for a release group's scaling (issue 16): lifecycle hooks
created with the group, policies and scheduled actions per group, their deletion with
the group, EnableMetricsCollection without a metric list, and a recurring action's next
run.  Each ``patch_*`` docstring says what AWS does and what moto 5.2.5 does instead."""

from __future__ import annotations

import datetime as dt
from typing import Any

# Every group metric EnableMetricsCollection enables when no Metrics are named.
GROUP_METRICS = [
    "GroupMinSize",
    "GroupMaxSize",
    "GroupDesiredCapacity",
    "GroupInServiceInstances",
    "GroupPendingInstances",
    "GroupStandbyInstances",
    "GroupTerminatingInstances",
    "GroupTotalInstances",
    "GroupInServiceCapacity",
    "GroupPendingCapacity",
    "GroupStandbyCapacity",
    "GroupTerminatingCapacity",
    "GroupTotalCapacity",
    "WarmPoolDesiredCapacity",
    "WarmPoolWarmedCapacity",
    "WarmPoolPendingCapacity",
    "WarmPoolTerminatingCapacity",
    "WarmPoolTotalCapacity",
    "GroupAndWarmPoolDesiredCapacity",
    "GroupAndWarmPoolTotalCapacity",
]


def patch_lifecycle_hook_specifications() -> None:
    """(k) CreateAutoScalingGroup's ``LifecycleHookSpecificationList``.

    AWS: the hooks are created with the group, before any instance launches
    (DescribeLifecycleHooks lists them as soon as the call returns).
    moto 5.2.5: the parameter is ignored; the group has no hooks.
    Fix: after a successful create, each specification becomes a lifecycle hook
    (name, transition, HeartbeatTimeout default 3600, DefaultResult default ABANDON).
    """
    from moto.autoscaling.responses import AutoScalingResponse

    original = AutoScalingResponse.create_auto_scaling_group

    def create_auto_scaling_group(self: Any) -> Any:
        result = original(self)
        name = self._get_param("AutoScalingGroupName")
        for spec in self._get_param("LifecycleHookSpecificationList", []) or []:
            self.autoscaling_backend.create_lifecycle_hook(
                name=spec.get("LifecycleHookName"),
                as_name=name,
                transition=spec.get("LifecycleTransition"),
                timeout=int(spec.get("HeartbeatTimeout") or 3600),
                result=spec.get("DefaultResult") or "ABANDON",
            )
        return result

    AutoScalingResponse.create_auto_scaling_group = create_auto_scaling_group


def _key(group: str | None, name: str) -> str:
    return f"{group}\x00{name}"


def patch_scaling_names_per_group() -> None:
    """(l) Scaling policy and scheduled action names are unique per group.

    AWS: PutScalingPolicy and PutScheduledUpdateGroupAction create or update the
    policy/action of that name *of that group*; two groups may each have a
    ``drydock-cpu`` policy and a ``business-hours`` action.
    moto 5.2.5: both are kept in one dict per region keyed by name alone, so putting
    a policy or action on a second group silently replaces the first group's.
    Fix: keyed by (group, name); DeletePolicy and DeleteScheduledAction follow.
    """
    from moto.autoscaling.models import AutoScalingBackend

    original_put_policy = AutoScalingBackend.put_scaling_policy
    original_put_action = AutoScalingBackend.put_scheduled_update_group_action

    def put_scaling_policy(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        policy = original_put_policy(self, name, *args, **kwargs)
        if self.policies.get(name) is policy:
            del self.policies[name]
        self.policies[_key(policy.auto_scaling_group_name, name)] = policy
        return policy

    def delete_policy(self: Any, group_name: str) -> None:
        # moto passes the PolicyName (or ARN) here.
        for k, p in list(self.policies.items()):
            if group_name in (p.name, getattr(p, "arn", None)):
                del self.policies[k]

    def execute_policy(self: Any, group_name: str) -> None:
        for p in list(self.policies.values()):
            if group_name in (p.name, getattr(p, "arn", None)):
                p.execute()
                return
        raise KeyError(group_name)

    def put_scheduled_update_group_action(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        action = original_put_action(self, name, *args, **kwargs)
        n = action.scheduled_action_name
        if self.scheduled_actions.get(n) is action:
            del self.scheduled_actions[n]
        self.scheduled_actions[_key(name, n)] = action
        return action

    def delete_scheduled_action(self: Any, auto_scaling_group_name: str, scheduled_action_name: str) -> None:
        from moto.autoscaling.exceptions import ValidationError

        if self.scheduled_actions.pop(_key(auto_scaling_group_name, scheduled_action_name), None) is None:
            raise ValidationError("Scheduled action name not found")

    AutoScalingBackend.put_scaling_policy = put_scaling_policy
    AutoScalingBackend.delete_policy = delete_policy
    AutoScalingBackend.execute_policy = execute_policy
    AutoScalingBackend.put_scheduled_update_group_action = put_scheduled_update_group_action
    AutoScalingBackend.delete_scheduled_action = delete_scheduled_action


def patch_delete_group_cascade() -> None:
    """(m) DeleteAutoScalingGroup removes what belongs to the group.

    AWS: deleting a group deletes its scaling policies, scheduled actions and
    lifecycle hooks (and the CloudWatch alarms of target tracking policies).
    moto 5.2.5: they stay behind; DescribePolicies and DescribeScheduledActions
    (without a group name) still list them.
    Fix: after a successful delete, the group's policies, actions and hooks go too.
    """
    from moto.autoscaling.models import AutoScalingBackend

    original = AutoScalingBackend.delete_auto_scaling_group

    def delete_auto_scaling_group(self: Any, group_name: str) -> None:
        original(self, group_name)
        for k, p in list(self.policies.items()):
            if p.auto_scaling_group_name == group_name:
                del self.policies[k]
        for k, a in list(self.scheduled_actions.items()):
            if a.auto_scaling_group_name == group_name:
                del self.scheduled_actions[k]
        for k, h in list(self.lifecycle_hooks.items()):
            if h.auto_scaling_group_name == group_name:
                del self.lifecycle_hooks[k]

    AutoScalingBackend.delete_auto_scaling_group = delete_auto_scaling_group


def patch_enable_all_metrics() -> None:
    """(n) EnableMetricsCollection without ``Metrics``.

    AWS: no Metrics means every group metric; DescribeAutoScalingGroups lists them
    in EnabledMetrics with the granularity.
    moto 5.2.5: an empty list is stored, so EnabledMetrics stays empty.
    Fix: an empty or absent list enables every group metric.
    """
    from moto.autoscaling.models import AutoScalingBackend

    original = AutoScalingBackend.enable_metrics_collection

    def enable_metrics_collection(self: Any, group_name: str, metrics: list[str]) -> None:
        original(self, group_name, list(metrics or GROUP_METRICS))

    AutoScalingBackend.enable_metrics_collection = enable_metrics_collection


# --------------------------------------------------------------------------
# (o) a recurring scheduled action's next run
# --------------------------------------------------------------------------
_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
_DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]


def _field(text: str, lo: int, hi: int, names: list[str]) -> set[int] | None:
    """The values of one cron field; None for an unrestricted ``*``."""
    if text == "*":
        return None

    def value(v: str) -> int:
        up = v.upper()
        if up in names:
            return names.index(up) + lo
        return int(v)

    out: set[int] = set()
    for item in text.split(","):
        rng, _, step = item.partition("/")
        if rng == "*":
            a, b = lo, hi
        elif "-" in rng:
            x, y = rng.split("-", 1)
            a, b = value(x), value(y)
        else:
            a = b = value(rng)
            if step:
                b = hi
        out.update(range(a, b + 1, int(step) if step else 1))
    return out


def next_run(recurrence: str, time_zone: str | None, after: dt.datetime) -> dt.datetime | None:
    """The first minute after ``after`` (UTC) that matches the 5-field cron in the
    zone, as UTC; None when nothing matches within a year (or the zone is unknown)."""
    from zoneinfo import ZoneInfo

    try:
        zone = ZoneInfo(time_zone or "UTC")
        minute, hour, dom, month, dow = recurrence.split()
        minutes = _field(minute, 0, 59, [])
        hours = _field(hour, 0, 23, [])
        doms = _field(dom, 1, 31, [])
        months = _field(month, 1, 12, _MONTHS)
        dows = _field(dow, 0, 7, _DAYS)
    except Exception:  # noqa: BLE001 - an unparsable recurrence has no next run here
        return None
    if dows is not None and 7 in dows:
        dows.add(0)
    local = after.astimezone(zone).replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    day = local.date()
    for _ in range(367):
        cron_dow = (day.weekday() + 1) % 7
        dom_ok = doms is None or day.day in doms
        dow_ok = dows is None or cron_dow in dows
        # Standard cron: with both day fields restricted, either may match.
        day_ok = (dom_ok or dow_ok) if (doms is not None and dows is not None) else (dom_ok and dow_ok)
        if (months is None or day.month in months) and day_ok:
            for h in sorted(hours) if hours is not None else range(24):
                for m in sorted(minutes) if minutes is not None else range(60):
                    t = dt.datetime(day.year, day.month, day.day, h, m, tzinfo=zone)
                    if t >= local:
                        return t.astimezone(dt.timezone.utc)
        day += dt.timedelta(days=1)
        local = dt.datetime(day.year, day.month, day.day, tzinfo=zone)
    return None


def patch_scheduled_action_next_run() -> None:
    """(o) DescribeScheduledActions of a recurring action.

    AWS: StartTime (and the deprecated Time) of a recurring action without an
    explicit StartTime is its next run, computed from Recurrence in TimeZone (UTC
    when none), so an operator sees when it fires next.
    moto 5.2.5: both are absent unless the request gave a StartTime.
    Fix: at describe time, a recurring action without a StartTime of its own gets
    its next run after now (UTC wall clock) as StartTime and Time.
    """
    from moto.autoscaling.models import AutoScalingBackend

    original_put = AutoScalingBackend.put_scheduled_update_group_action
    original = AutoScalingBackend.describe_scheduled_actions

    def put_scheduled_update_group_action(self: Any, *args: Any, **kwargs: Any) -> Any:
        action = original_put(self, *args, **kwargs)
        action.__dict__["_drydock_explicit_start"] = action.start_time is not None
        return action

    def describe_scheduled_actions(self: Any, *args: Any, **kwargs: Any) -> Any:
        actions = original(self, *args, **kwargs)
        now = dt.datetime.now(dt.timezone.utc)
        for a in actions:
            if a.recurrence and not a.__dict__.get("_drydock_explicit_start", False):
                nxt = next_run(a.recurrence, a.time_zone, now)
                a.start_time = nxt.strftime("%Y-%m-%dT%H:%M:%SZ") if nxt else None
                a.time = a.start_time
        return actions

    AutoScalingBackend.put_scheduled_update_group_action = put_scheduled_update_group_action
    AutoScalingBackend.describe_scheduled_actions = describe_scheduled_actions


PATCHES = [
    ("asg-lifecycle-hook-specifications", patch_lifecycle_hook_specifications),
    ("asg-scaling-names-per-group", patch_scaling_names_per_group),
    ("asg-delete-cascade", patch_delete_group_cascade),
    ("asg-enable-all-metrics", patch_enable_all_metrics),
    ("scheduled-action-next-run", patch_scheduled_action_next_run),
]
