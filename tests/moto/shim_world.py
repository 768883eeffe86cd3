"""The shim's "world": a scaled AWS clock and the behaviours that take AWS time.

Everything here is off by default (``time_scale`` 0 is today's instant world) and
is switched on by drydock_moto.py's flags or at runtime through
``POST /drydock-shim/world``.  Nothing runs in the background: moto's objects get
timestamps when they are created or change state, and the state AWS would show is
computed from those timestamps whenever moto renders an object.

World clock: ``now() = world0 + (real seconds since real0) * time_scale`` in AWS
seconds; changing the scale re-anchors it, so the clock never jumps.  Timestamps
taken while the world is instant are None, which means "long done".
"""

from __future__ import annotations

import copy
import math
import threading
import time
from typing import Any

IN_PROGRESS = ("OutOfService", "ELB", "Instance registration is still in progress.")
DEREGISTERING = "Instance deregistration currently in progress."
# Classic ELB's health check when none was configured (AWS's defaults).
DEFAULT_HEALTH_CHECK = {"interval": 30, "healthy": 10, "unhealthy": 2}

# Keys kept in the __dict__ of moto's objects (moto's reset drops them with the objects).
TRANSITION = "_drydock_transition"  # instance: (shown name, code, real name, until)
LAUNCHED = "_drydock_launched"  # instance: world time of launch/start, None = long ago
REAL_STATE = "_drydock_real_state"  # instance: moto's own InstanceState
REGISTERED = "_drydock_registered"  # load balancer: {instance id: world time or None}
DRAINING = "_drydock_draining"  # load balancer: {instance id: world time it leaves}
AVAILABLE_AT = "_drydock_available_at"  # image: world time it becomes available
REAL_IMAGE_STATE = "_drydock_real_image_state"  # image: moto's own state string

THROTTLE_MODES = ("aws", "family", "api")


class World:
    """The world settings (see README.md) and the scaled clock."""

    NUMBERS = ("time_scale", "boot", "launch", "stopping", "image_pending", "consistency_ms")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.stock = False
        self.time_scale = 0.0
        self.boot = 90.0
        self.launch = 10.0
        self.stopping = 10.0
        self.image_pending = 30.0
        self.throttle: str | None = None
        self.consistency_ms = 0.0
        self._real0 = time.monotonic()
        self._world0 = 0.0

    # -- clock ---------------------------------------------------------------
    def now(self) -> float:
        """AWS seconds since the shim started (frozen while the world is instant)."""
        return self._world0 + (time.monotonic() - self._real0) * self.time_scale

    @property
    def active(self) -> bool:
        return self.time_scale > 0

    def stamp(self) -> float | None:
        return self.now() if self.active else None

    # -- settings ------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        return {
            "time_scale": self.time_scale,
            "boot": self.boot,
            "launch": self.launch,
            "stopping": self.stopping,
            "image_pending": self.image_pending,
            "throttle": self.throttle or False,
            "consistency_ms": self.consistency_ms,
            "clock": round(self.now(), 3),
        }

    def update(self, changes: dict[str, Any]) -> None:
        """Validates all of ``changes`` first, then applies them (ValueError: none applied)."""
        new: dict[str, Any] = {}
        for key, value in changes.items():
            if key in self.NUMBERS:
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise ValueError(f"{key} must be a number")
                if not math.isfinite(value) or value < 0:
                    raise ValueError(f"{key} must be a finite number >= 0")
                new[key] = float(value)
            elif key == "throttle":
                if value is True:
                    value = "aws"
                if value is False or value is None:
                    value = None
                elif value not in THROTTLE_MODES:
                    raise ValueError('throttle must be true, false, "aws", "family" or "api"')
                new[key] = value
            elif key == "clock":
                continue  # echoed back from GET; read-only
            else:
                raise ValueError(f"unknown world setting {key!r}")
        if self.stock and (new.get("time_scale") or new.get("consistency_ms")):
            raise ValueError("time_scale and consistency_ms need the fidelity patches (not --stock)")
        with self.lock:
            if "time_scale" in new:
                world_now = self.now()
                self._real0 = time.monotonic()
                self._world0 = world_now
            for key, value in new.items():
                setattr(self, key, value)


WORLD = World()


# --------------------------------------------------------------------------
# EC2 instance states: pending -> running, stopping -> stopped.
# --------------------------------------------------------------------------
def _transition(instance: Any) -> tuple[str, int, str, float] | None:
    tr = instance.__dict__.get(TRANSITION)
    if tr is None or not WORLD.active or WORLD.now() >= tr[3]:
        return None
    real = instance.__dict__.get(REAL_STATE)
    if real is None or real.name != tr[2]:
        return None
    return tr


def launching(instance: Any) -> bool:
    """True while the instance is still pending after a launch or a start."""
    tr = _transition(instance)
    return tr is not None and tr[0] == "pending"


def patch_instance_states() -> None:
    """EC2 instances take AWS time to change state.

    moto keeps an instance's state in ``Instance._state`` (an InstanceState) and
    renders, filters (instance-state-name) and checks (is_running) it from there.
    That attribute becomes a property: moto's own state is kept aside, and while a
    transition is under way the property shows the transient state instead
    (``pending`` for ``launch`` AWS seconds after RunInstances or StartInstances,
    ``stopping`` for ``stopping`` AWS seconds after StopInstances).  Any change moto
    makes (stop, start, terminate, reboot) ends the transition first.
    """
    from moto.ec2.models.instances import Instance, InstanceState

    def get_state(self: Any) -> Any:
        tr = _transition(self)
        if tr is not None:
            return InstanceState(tr[0], tr[1])
        return self.__dict__.get(REAL_STATE)

    def set_state(self: Any, value: Any) -> None:
        self.__dict__[REAL_STATE] = value

    Instance._state = property(get_state, set_state)

    original_init = Instance.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        t = WORLD.stamp()
        self.__dict__[LAUNCHED] = t
        if t is not None:
            self.__dict__[TRANSITION] = ("pending", 0, "running", t + WORLD.launch)

    Instance.__init__ = __init__

    def wrap(name: str, after: Any) -> None:
        original = getattr(Instance, name)

        def method(self: Any, *args: Any, **kwargs: Any) -> Any:
            previous = copy.copy(self._state)  # what the client saw, e.g. pending
            self.__dict__.pop(TRANSITION, None)
            result = original(self, *args, **kwargs)
            if after is not None:
                after(self)
            return previous if name != "reboot" else result

        method.__name__ = name
        setattr(Instance, name, method)

    def after_start(self: Any) -> None:
        t = WORLD.stamp()
        self.__dict__[LAUNCHED] = t  # the service boots again
        if t is not None:
            self.__dict__[TRANSITION] = ("pending", 0, "running", t + WORLD.launch)

    def after_stop(self: Any) -> None:
        t = WORLD.stamp()
        if t is not None:
            self.__dict__[TRANSITION] = ("stopping", 64, "stopped", t + WORLD.stopping)

    wrap("start", after_start)
    wrap("stop", after_stop)
    wrap("terminate", None)
    wrap("reboot", None)


def patch_asg_lifecycle() -> None:
    """An Auto Scaling instance is ``Pending`` in its group while it launches.

    moto's serializer looks for the model's member name (``LifecycleState``) on
    the object before the snake_case attribute, so a read-only ``LifecycleState``
    property changes only what DescribeAutoScalingGroups/-Instances show; moto's
    own ``lifecycle_state`` (which its capacity arithmetic counts) stays InService.
    """
    from moto.autoscaling.models import InstanceState as AsgInstanceState

    def lifecycle(self: Any) -> str:
        state = self.lifecycle_state
        if state == "InService" and launching(self.instance):
            return "Pending"
        return state

    AsgInstanceState.LifecycleState = property(lifecycle)


# --------------------------------------------------------------------------
# Classic ELB: registration, health checks and connection draining.
# --------------------------------------------------------------------------
def _draining_timeout(lb: Any) -> float:
    # ModifyLoadBalancerAttributes stores the request's keys (Enabled, Timeout); moto
    # adds a lower-case "timeout": 300 beside them, which its responses ignore.
    cd = (getattr(lb, "attributes", None) or {}).get("connection_draining") or {}
    enabled = cd.get("Enabled", cd.get("enabled", False))
    if isinstance(enabled, str):
        enabled = enabled.lower() == "true"
    if not enabled:
        return 0.0
    try:
        return float(cd.get("Timeout", cd.get("timeout", 300)))
    except (TypeError, ValueError):
        return 300.0


def health_check(lb: Any) -> tuple[float, int, int]:
    """(Interval, HealthyThreshold, UnhealthyThreshold) of the ELB's own HealthCheck."""
    hc = getattr(lb, "health_check", None)
    d = DEFAULT_HEALTH_CHECK
    if hc is None:
        return float(d["interval"]), d["healthy"], d["unhealthy"]
    try:
        return float(hc.interval), int(hc.healthy_threshold), int(hc.unhealthy_threshold)
    except (TypeError, ValueError):
        return float(d["interval"]), d["healthy"], d["unhealthy"]


def patch_elb_registration_times() -> None:
    """Remembers when each instance was registered with (and deregistered from) each ELB.

    Deregistration from an ELB with ConnectionDraining enabled (while the world
    runs) keeps the instance in DescribeInstanceHealth, InService / "Instance
    deregistration currently in progress.", for the draining timeout.
    """
    from moto.elb.models import ELBBackend

    original_register = ELBBackend.register_instances
    original_deregister = ELBBackend.deregister_instances

    def register_instances(
        self: Any, load_balancer_name: str, instance_ids: Any, from_autoscaling: bool = False
    ) -> Any:
        ids = list(instance_ids)
        lb = self.get_load_balancer(load_balancer_name)
        if lb is not None:
            present = set(lb.instance_ids)
            registered = lb.__dict__.setdefault(REGISTERED, {})
            draining = lb.__dict__.setdefault(DRAINING, {})
            t = WORLD.stamp()
            for iid in ids:
                draining.pop(iid, None)
                if iid not in present:
                    registered[iid] = t
        return original_register(self, load_balancer_name, ids, from_autoscaling)

    def deregister_instances(
        self: Any, load_balancer_name: str, instance_ids: Any, from_autoscaling: bool = False
    ) -> Any:
        ids = list(instance_ids)
        lb = self.get_load_balancer(load_balancer_name)
        before = set(lb.instance_ids) if lb is not None else set()
        result = original_deregister(self, load_balancer_name, ids, from_autoscaling)
        if lb is not None:
            gone = before - set(lb.instance_ids)
            registered = lb.__dict__.setdefault(REGISTERED, {})
            for iid in gone:
                registered.pop(iid, None)
            timeout = _draining_timeout(lb)
            if gone and WORLD.active and timeout > 0:
                until = WORLD.now() + timeout
                draining = lb.__dict__.setdefault(DRAINING, {})
                for iid in gone:
                    draining[iid] = until
        return result

    ELBBackend.register_instances = register_instances
    ELBBackend.deregister_instances = deregister_instances


def elb_health(lb: Any, instance: Any, unhealthy: str | None) -> tuple[str, str, str] | None:
    """The (State, ReasonCode, Description) of a registered pending/running instance
    on the world clock, or None when the world is instant.

    Health checks pass from ``start`` = max(launch + launch time + boot, registration)
    and the instance is InService after HealthyThreshold x Interval of passing checks;
    until then "Instance registration is still in progress." (ReasonCode ELB).  An
    instance marked unhealthy fails them instead: OutOfService / Instance after
    UnhealthyThreshold x Interval from ``start``.
    """
    if not WORLD.active:
        return None
    now = WORLD.now()
    start = -math.inf
    launched = instance.__dict__.get(LAUNCHED)
    if launched is not None:
        start = launched + WORLD.launch + WORLD.boot
    registered = (lb.__dict__.get(REGISTERED) or {}).get(instance.id)
    if registered is not None:
        start = max(start, registered)
    interval, healthy, unhealthy_n = health_check(lb)
    if unhealthy is not None:
        if now >= start + unhealthy_n * interval:
            return ("OutOfService", "Instance", unhealthy)
        return IN_PROGRESS
    if now < start + healthy * interval:
        return IN_PROGRESS
    return ("InService", "N/A", "N/A")


def draining_entries(lb: Any, wanted: list[str]) -> list[dict[str, str]]:
    """DescribeInstanceHealth entries of the instances still draining from ``lb``."""
    draining = lb.__dict__.get(DRAINING)
    if not draining:
        return []
    if not WORLD.active:
        draining.clear()
        return []
    now = WORLD.now()
    for iid, until in list(draining.items()):
        if until <= now:
            draining.pop(iid, None)
    registered = set(lb.instance_ids)
    return [
        {"InstanceId": iid, "State": "InService", "ReasonCode": "N/A", "Description": DEREGISTERING}
        for iid in draining
        if iid not in registered and (not wanted or iid in wanted)
    ]


# --------------------------------------------------------------------------
# Images: pending -> available.
# --------------------------------------------------------------------------
def patch_image_states() -> None:
    """CreateImage and CopyImage images are ``pending`` for ``image_pending`` AWS seconds.

    ``Ami.state`` becomes a property over moto's own value, like ``Instance._state``.
    """
    from moto.ec2.models.amis import Ami, AmiBackend

    def get_state(self: Any) -> Any:
        real = self.__dict__.get(REAL_IMAGE_STATE)
        until = self.__dict__.get(AVAILABLE_AT)
        if until is not None and real == "available" and WORLD.active and WORLD.now() < until:
            return "pending"
        return real

    def set_state(self: Any, value: Any) -> None:
        self.__dict__[REAL_IMAGE_STATE] = value

    Ami.state = property(get_state, set_state)

    for name in ("create_image", "copy_image"):
        original = getattr(AmiBackend, name)

        def make(original: Any) -> Any:
            def method(self: Any, *args: Any, **kwargs: Any) -> Any:
                ami = original(self, *args, **kwargs)
                t = WORLD.stamp()
                if t is not None:
                    ami.__dict__[AVAILABLE_AT] = t + WORLD.image_pending
                return ami

            return method

        setattr(AmiBackend, name, make(original))


WORLD_PATCHES = [
    patch_instance_states,
    patch_asg_lifecycle,
    patch_elb_registration_times,
    patch_image_states,
]


def apply_world_patches() -> None:
    for patch in WORLD_PATCHES:
        patch()
