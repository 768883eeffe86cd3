"""The shim's shared state: the request recorder, the unhealthy set and the hold.

Process-global; cleared by the DELETE endpoints of the control API and by
POST /moto-api/reset.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

DEFAULT_UNHEALTHY_DESCRIPTION = (
    "Instance has failed at least the UnhealthyThreshold number of health checks "
    "consecutively."
)


class ShimState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []
        # id -> description
        self.unhealthy_amis: dict[str, str] = {}
        self.unhealthy_instances: dict[str, str] = {}

    def record(self, entry: dict[str, Any]) -> None:
        with self.lock:
            self.requests.append(entry)

    def recorded(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.requests)

    def clear_requests(self) -> int:
        with self.lock:
            n = len(self.requests)
            self.requests.clear()
            return n

    def mark_unhealthy(
        self, amis: Iterable[str], instances: Iterable[str], description: str
    ) -> None:
        with self.lock:
            for ami in amis:
                self.unhealthy_amis[ami] = description
            for instance_id in instances:
                self.unhealthy_instances[instance_id] = description

    def clear_unhealthy(self) -> None:
        with self.lock:
            self.unhealthy_amis.clear()
            self.unhealthy_instances.clear()

    def unhealthy_snapshot(self) -> dict[str, dict[str, str]]:
        with self.lock:
            return {
                "amis": dict(self.unhealthy_amis),
                "instances": dict(self.unhealthy_instances),
            }

    def unhealthy_description(self, instance_id: str, image_id: str | None) -> str | None:
        with self.lock:
            if instance_id in self.unhealthy_instances:
                return self.unhealthy_instances[instance_id]
            if image_id is not None and image_id in self.unhealthy_amis:
                return self.unhealthy_amis[image_id]
            return None

    def reset(self) -> None:
        self.clear_requests()
        self.clear_unhealthy()

    def stats(self, by: str = "key") -> dict[str, Any]:
        """Recorded requests summarised per ``by`` (key, client or service): requests,
        throttled, faults (any injected fault, hold included), errors (HTTP >= 400)
        and the same per action."""
        with self.lock:
            entries = [dict(e) for e in self.requests]

        def new() -> dict[str, Any]:
            return {"requests": 0, "throttled": 0, "faults": 0, "errors": 0}

        def count(summary: dict[str, Any], e: dict[str, Any]) -> None:
            summary["requests"] += 1
            summary["throttled"] += bool(e.get("throttled"))
            summary["faults"] += e.get("fault") is not None
            status = e.get("status")
            summary["errors"] += status is not None and status >= 400

        groups: dict[str, dict[str, Any]] = {}
        total = new()
        for e in entries:
            name = e.get(by) or (e.get("client") if by == "key" else None) or "unknown"
            group = groups.setdefault(name, {**new(), "actions": {}})
            count(group, e)
            count(group["actions"].setdefault(e.get("action") or "unknown", new()), e)
            count(total, e)
        return {"by": by, "clients": groups, "total": total}


STATE = ShimState()


class Hold:
    """Fault injection for crash tests: AWS requests with one Action block in the shim
    *before* moto sees them, until the hold is released; they are then answered with
    HTTP 503 and never processed, so a client killed while its request was held leaves
    no trace of it.  Requests that arrive after the release are processed normally.

    With ``after``, the hold arms only once a request with that Action has arrived
    (that request itself passes): e.g. hold the first DescribeInstanceHealth that comes
    after CreateAutoScalingGroup, letting earlier ones through.
    """

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.action: str | None = None
        self.after: str | None = None
        self.armed = False
        # Bumped by every release; a held request waits for its generation to end.
        self.generation = 0
        self.held = 0

    def set(self, action: str, after: str | None) -> None:
        with self.cond:
            self.action = action
            self.after = after
            self.armed = after is None

    def snapshot(self) -> dict[str, Any]:
        with self.cond:
            return {
                "action": self.action,
                "after": self.after,
                "armed": self.armed,
                "held": self.held,
            }

    def check(self, action: str | None) -> bool:
        """Blocks while ``action`` is held; True if the request was held (refuse it)."""
        with self.cond:
            if self.action is None:
                return False
            if not self.armed:
                if action is not None and action == self.after:
                    self.armed = True
                return False
            if action != self.action:
                return False
            generation = self.generation
            self.held += 1
            try:
                while self.generation == generation:
                    self.cond.wait()
            finally:
                self.held -= 1
            return True

    def release(self) -> int:
        """Clears the hold and wakes every held request; returns how many were held."""
        with self.cond:
            released = self.held
            self.action = None
            self.after = None
            self.armed = False
            self.generation += 1
            self.cond.notify_all()
            return released


HOLD = Hold()
