"""Eventual consistency (``consistency_ms``), off by default.

While ``consistency_ms`` is MS > 0:

* an instance, Auto Scaling group, launch template or image created (while
  consistency is on) less than MS real milliseconds ago is missing from the Describe calls that list it (the
  whole window, deterministically), exactly as if it did not exist yet;
* CreateAutoScalingGroup/UpdateAutoScalingGroup naming a launch template that is
  younger than MS fails with Auto Scaling's ValidationError;
* a tag write (EC2 CreateTags/DeleteTags, Auto Scaling CreateOrUpdateTags/
  DeleteTags, ELB AddTags/RemoveTags) succeeds at once but reads keep showing the
  old tags for MS: the change is taken back right after moto applied it and
  re-applied once MS have passed, by the first AWS request after that.

The WSGI wrapper says which AWS action a thread is serving (``CTX``), so only the
Describe call itself hides young resources; moto's internal look-ups (a launch
reading its template, the ELB reading an instance) still see them.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

from shim_world import WORLD

CREATED = "_drydock_created"  # time.monotonic() when the resource was created
CTX = threading.local()
_GONE = object()

HIDDEN_BY = {
    ("ec2", "DescribeInstances"): "instance",
    ("ec2", "DescribeInstanceStatus"): "instance",
    ("ec2", "DescribeImages"): "image",
    ("ec2", "DescribeLaunchTemplates"): "launch-template",
    ("ec2", "DescribeLaunchTemplateVersions"): "launch-template",
    ("autoscaling", "DescribeAutoScalingGroups"): "group",
}


def set_context(service: str | None, action: str | None) -> None:
    CTX.request = (service, action)


def clear_context() -> None:
    CTX.request = (None, None)


def _hiding(kind: str) -> bool:
    return WORLD.consistency_ms > 0 and HIDDEN_BY.get(getattr(CTX, "request", (None, None))) == kind


def young(obj: Any) -> bool:
    created = getattr(obj, "__dict__", {}).get(CREATED)
    if created is None or WORLD.consistency_ms <= 0:
        return False
    return (time.monotonic() - created) * 1000.0 < WORLD.consistency_ms


def _stamp(obj: Any) -> Any:
    """Resources created while consistency is off are never young."""
    if obj is not None and hasattr(obj, "__dict__") and WORLD.consistency_ms > 0:
        obj.__dict__[CREATED] = time.monotonic()
    return obj


# --------------------------------------------------------------------------
# Deferred tag writes
# --------------------------------------------------------------------------
class TagQueue:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        # (due time.monotonic(), put(resource, changes), resource, changes)
        self.pending: list[tuple[float, Callable[[Any, dict[str, Any]], None], Any, dict[str, Any]]] = []

    def defer(
        self,
        resources: list[Any],
        get: Callable[[Any], dict[str, Any] | None],
        put: Callable[[Any, dict[str, Any]], None],
        run: Callable[[], Any],
    ) -> Any:
        """Runs the write ``run``, then takes its tag changes back and queues them."""
        if WORLD.consistency_ms <= 0:
            return run()
        resources = list(dict.fromkeys(resources))
        before = {r: get(r) for r in resources}
        result = run()
        due = time.monotonic() + WORLD.consistency_ms / 1000.0
        with self.lock:
            for r in resources:
                old, new = before[r], get(r)
                if old is None or new is None:
                    continue
                changed = {
                    k: new.get(k, _GONE)
                    for k in set(old) | set(new)
                    if old.get(k, _GONE) != new.get(k, _GONE)
                }
                if changed:
                    put(r, {k: old.get(k, _GONE) for k in changed})
                    self.pending.append((due, put, r, changed))
        return result

    def apply_due(self) -> int:
        """Applies the queued writes that are due (all of them when consistency is off)."""
        if not self.pending:
            return 0
        now = time.monotonic()
        off = WORLD.consistency_ms <= 0
        with self.lock:
            due = [p for p in self.pending if off or p[0] <= now]
            self.pending = [p for p in self.pending if not (off or p[0] <= now)]
            for _, put, resource, changes in due:
                try:
                    put(resource, changes)
                except Exception:  # noqa: BLE001 - the resource may be gone by now
                    pass
        return len(due)

    def reset(self) -> None:
        with self.lock:
            self.pending.clear()


TAGS = TagQueue()


def _apply_changes(d: dict[str, Any], changes: dict[str, Any]) -> None:
    for k, v in changes.items():
        if v is _GONE:
            d.pop(k, None)
        else:
            d[k] = v


def patch_tag_writes() -> None:
    from moto.autoscaling.responses import AutoScalingResponse
    from moto.ec2.responses.tags import TagResponse
    from moto.elb.responses import ELBResponse

    def ec2_tags(self: Any) -> tuple[Callable[..., Any], Callable[..., Any]]:
        backend = self.ec2_backend

        def get(rid: str) -> dict[str, Any]:
            return dict(backend.tags.get(rid, {}))

        def put(rid: str, changes: dict[str, Any]) -> None:
            _apply_changes(backend.tags[rid], changes)

        return get, put

    def asg_tags(self: Any) -> tuple[Callable[..., Any], Callable[..., Any]]:
        backend = self.autoscaling_backend

        def get(name: str) -> dict[str, Any] | None:
            group = backend.autoscaling_groups.get(name)
            return None if group is None else {t["Key"]: dict(t) for t in group.tags}

        def put(name: str, changes: dict[str, Any]) -> None:
            group = backend.autoscaling_groups.get(name)
            if group is not None:
                tags = {t["Key"]: t for t in group.tags}
                _apply_changes(tags, changes)
                group.tags = list(tags.values())

        return get, put

    def elb_tags(self: Any) -> tuple[Callable[..., Any], Callable[..., Any]]:
        backend = self.elb_backend

        def get(name: str) -> dict[str, Any] | None:
            lb = backend.get_load_balancer(name)
            return None if lb is None else dict(lb.tags)

        def put(name: str, changes: dict[str, Any]) -> None:
            lb = backend.get_load_balancer(name)
            if lb is not None:
                _apply_changes(lb.tags, changes)

        return get, put

    def wrap(cls: Any, name: str, accessors: Any, resources: Callable[[Any], list[Any]]) -> None:
        original = getattr(cls, name)

        def method(self: Any) -> Any:
            if WORLD.consistency_ms <= 0:
                return original(self)
            get, put = accessors(self)
            return TAGS.defer(resources(self), get, put, lambda: original(self))

        method.__name__ = name
        setattr(cls, name, method)

    def ec2_resources(self: Any) -> list[str]:
        return list(self._get_param("Resources", []) or [])

    def asg_resources(self: Any) -> list[str]:
        tags = self._get_params().get("Tags", []) or []
        return [t.get("ResourceId") for t in tags if t.get("ResourceId")]

    def elb_resources(self: Any) -> list[str]:
        return list(self._get_param("LoadBalancerNames", []) or [])

    wrap(TagResponse, "create_tags", ec2_tags, ec2_resources)
    wrap(TagResponse, "delete_tags", ec2_tags, ec2_resources)
    wrap(AutoScalingResponse, "create_or_update_tags", asg_tags, asg_resources)
    wrap(AutoScalingResponse, "delete_tags", asg_tags, asg_resources)
    wrap(ELBResponse, "add_tags", elb_tags, elb_resources)
    wrap(ELBResponse, "remove_tags", elb_tags, elb_resources)


# --------------------------------------------------------------------------
# Young resources
# --------------------------------------------------------------------------
def patch_creation_times() -> None:
    """Stamps instances, groups, launch templates and images (not moto's default AMIs)."""
    from moto.autoscaling.models import AutoScalingBackend
    from moto.ec2.models.amis import AmiBackend
    from moto.ec2.models.instances import Instance
    from moto.ec2.models.launch_templates import LaunchTemplate

    for cls in (Instance, LaunchTemplate):
        original_init = cls.__init__

        def make_init(original_init: Any) -> Any:
            def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
                original_init(self, *args, **kwargs)
                _stamp(self)

            return __init__

        cls.__init__ = make_init(original_init)

    def stamping(original: Any) -> Any:
        def method(self: Any, *args: Any, **kwargs: Any) -> Any:
            return _stamp(original(self, *args, **kwargs))

        return method

    for name in ("create_image", "copy_image", "register_image"):
        setattr(AmiBackend, name, stamping(getattr(AmiBackend, name)))
    AutoScalingBackend.create_auto_scaling_group = stamping(
        AutoScalingBackend.create_auto_scaling_group
    )


def patch_young_resources_hidden() -> None:
    from moto.autoscaling.exceptions import ValidationError
    from moto.autoscaling.models import AutoScalingBackend
    from moto.ec2.exceptions import (
        InvalidAMIIdError,
        InvalidLaunchTemplateIdNotFound,
        InvalidLaunchTemplateNameNotFoundError,
        InvalidLaunchTemplateNameNotFoundWithNameError,
    )
    from moto.ec2.models.amis import AmiBackend
    from moto.ec2.models.instances import InstanceBackend
    from moto.ec2.models.launch_templates import LaunchTemplateBackend

    original_reservations = InstanceBackend.all_reservations

    def all_reservations(self: Any, filters: Any = None) -> list[Any]:
        reservations = original_reservations(self, filters)
        if not _hiding("instance"):
            return reservations
        kept = []
        for reservation in reservations:  # copies: rebinding .instances is safe
            instances = [i for i in reservation.instances if not young(i)]
            if instances:
                reservation.instances = instances
                kept.append(reservation)
        return kept

    InstanceBackend.all_reservations = all_reservations

    original_images = AmiBackend.describe_images

    def describe_images(
        self: Any,
        ami_ids: list[str] | None = None,
        filters: Any = None,
        exec_users: list[str] | None = None,
        owners: list[str] | None = None,
    ) -> list[Any]:
        images = original_images(
            self, ami_ids=ami_ids, filters=filters, exec_users=exec_users, owners=owners
        )
        if not _hiding("image"):
            return images
        kept = [i for i in images if not young(i)]
        if ami_ids and images and not kept:
            raise InvalidAMIIdError(ami_ids)
        return kept

    AmiBackend.describe_images = describe_images

    original_templates = LaunchTemplateBackend.describe_launch_templates

    def describe_launch_templates(
        self: Any,
        template_names: list[str] | None = None,
        template_ids: list[str] | None = None,
        filters: Any = None,
    ) -> list[Any]:
        templates = original_templates(self, template_names, template_ids, filters)
        if not _hiding("launch-template"):
            return templates
        kept = [t for t in templates if not young(t)]
        if template_names and not template_ids and len(kept) < len(templates):
            raise InvalidLaunchTemplateNameNotFoundError()
        return kept

    LaunchTemplateBackend.describe_launch_templates = describe_launch_templates

    original_get = LaunchTemplateBackend.get_launch_template
    original_get_by_name = LaunchTemplateBackend.get_launch_template_by_name

    def get_launch_template(self: Any, template_id: str) -> Any:
        template = original_get(self, template_id)
        if _hiding("launch-template") and young(template):
            raise InvalidLaunchTemplateIdNotFound(template_id)
        return template

    def get_launch_template_by_name(self: Any, name: str) -> Any:
        template = original_get_by_name(self, name)
        if _hiding("launch-template") and young(template):
            raise InvalidLaunchTemplateNameNotFoundWithNameError(name)
        return template

    LaunchTemplateBackend.get_launch_template = get_launch_template
    LaunchTemplateBackend.get_launch_template_by_name = get_launch_template_by_name

    original_groups = AutoScalingBackend.describe_auto_scaling_groups

    def describe_auto_scaling_groups(self: Any, *args: Any, **kwargs: Any) -> list[Any]:
        groups = original_groups(self, *args, **kwargs)
        if not _hiding("group"):
            return groups
        return [g for g in groups if not young(g)]

    AutoScalingBackend.describe_auto_scaling_groups = describe_auto_scaling_groups

    def check_template(self: Any, launch_template: Any) -> None:
        if WORLD.consistency_ms <= 0 or not launch_template:
            return
        ec2 = self.ec2_backend
        lt_id = launch_template.get("LaunchTemplateId")
        lt_name = launch_template.get("LaunchTemplateName")
        if lt_id:
            template, what = ec2.launch_templates.get(lt_id), f"with template ID {lt_id}"
        elif lt_name:
            template_id = ec2.launch_template_name_to_ids.get(lt_name)
            template = ec2.launch_templates.get(template_id) if template_id else None
            what = f"with template name {lt_name}"
        else:
            return
        if template is not None and young(template):
            raise ValidationError(
                "You must use a valid fully-formed launch template. "
                f"The specified launch template, {what}, does not exist."
            )

    for name in ("create_auto_scaling_group", "update_auto_scaling_group"):
        original = getattr(AutoScalingBackend, name)

        def make(original: Any) -> Any:
            def method(self: Any, *args: Any, **kwargs: Any) -> Any:
                check_template(self, kwargs.get("launch_template"))
                return original(self, *args, **kwargs)

            return method

        setattr(AutoScalingBackend, name, make(original))


CONSISTENCY_PATCHES = [patch_creation_times, patch_young_resources_hidden, patch_tag_writes]


def apply_consistency_patches() -> None:
    for patch in CONSISTENCY_PATCHES:
        patch()
