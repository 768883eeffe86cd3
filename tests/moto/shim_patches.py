"""Fidelity patches (a)-(e): small wrappers around moto 5.2.5 methods, applied
in-process before the server starts.  See README.md for the AWS-vs-moto table.
"""

from __future__ import annotations

from typing import Any, Callable

from shim_state import STATE
from shim_world import draining_entries, elb_health


def _elb_registrations(asg_backend: Any) -> dict[tuple[str, str], set[str]]:
    """(group name, ELB name) -> instance ids that group registered with that ELB.

    Kept on the AutoScalingBackend object itself so that moto's reset (which
    re-initialises every backend's __dict__) drops it too.
    """
    reg = asg_backend.__dict__.get("_drydock_elb_registrations")
    if reg is None:
        reg = {}
        asg_backend.__dict__["_drydock_elb_registrations"] = reg
    return reg


def patch_asg_elb_registration() -> None:
    """Patch (a): several Auto Scaling groups attached to one classic ELB.

    AWS: every group attached to a classic load balancer registers/deregisters
    only its *own* instances: a launch registers the new instance, a
    termination/detach/standby deregisters that instance, AttachLoadBalancers
    registers the group's instances and DetachLoadBalancers deregisters the
    group's instances from the named load balancers only.  Instances of other
    groups (and instances registered by hand) are untouched.  This is what a
    blue/green deploy relies on: the new release's group joins the ELB while
    the old release's group is still serving.

    moto 5.2.5: AutoScalingBackend.update_attached_elbs (called after
    CreateAutoScalingGroup, UpdateAutoScalingGroup, SetDesiredCapacity,
    AttachInstances, AttachLoadBalancers, instance replacement, ...) makes the
    ELB's autoscaling-registered instance list *equal to* this group's active
    instances, so creating or scaling group B silently deregisters every
    instance of group A.  DetachLoadBalancers also deregisters the group from
    *all* of its load balancers, not just the ones named in the request.

    Fix: remember, per (group, ELB), which instances the group registered;
    register the group's new active instances and deregister only those of its
    own that are no longer active.  DetachLoadBalancers deregisters the
    group's instances from the named ELBs only.
    """
    from moto.autoscaling.models import AutoScalingBackend

    def update_attached_elbs(self: Any, group_name: str) -> None:
        group = self.autoscaling_groups[group_name]
        active = [state.instance.id for state in group.active_instances()]
        active_set = set(active)
        registrations = _elb_registrations(self)
        for elb_name in list(group.load_balancer_names):
            elb = self.elb_backend.get_load_balancer(elb_name)
            if elb is None:  # ELBs can be deleted before their group
                continue
            key = (group_name, elb_name)
            previous = registrations.get(key, set())
            present = set(elb.instance_ids)
            self.elb_backend.register_instances(
                elb_name, [i for i in active if i not in present], from_autoscaling=True
            )
            gone = previous - active_set
            if gone:
                self.elb_backend.deregister_instances(
                    elb_name, gone, from_autoscaling=True
                )
            registrations[key] = active_set

    def detach_load_balancers(
        self: Any, group_name: str, load_balancer_names: list[str]
    ) -> None:
        group = self.autoscaling_groups[group_name]
        own = {state.instance.id for state in group.instance_states}
        registrations = _elb_registrations(self)
        for elb_name in load_balancer_names:
            if elb_name not in group.load_balancer_names:
                continue
            previous = registrations.pop((group_name, elb_name), set())
            if self.elb_backend.get_load_balancer(elb_name) is not None:
                self.elb_backend.deregister_instances(
                    elb_name, own | previous, from_autoscaling=True
                )
        group.load_balancer_names = [
            x for x in group.load_balancer_names if x not in load_balancer_names
        ]

    AutoScalingBackend.update_attached_elbs = update_attached_elbs
    AutoScalingBackend.detach_load_balancers = detach_load_balancers


def patch_asg_already_exists() -> None:
    """Patch (b): CreateAutoScalingGroup with a name that is already taken.

    AWS: fails with HTTP 400, query-protocol error code ``AlreadyExists``
    (shape AlreadyExistsFault), message "AutoScalingGroup by this name
    already exists - A group with the name <name> already exists"; the
    existing group is left alone.  drydock names groups per release, so a
    re-run of the same release must see this error.

    moto 5.2.5: AutoScalingBackend.create_auto_scaling_group simply overwrites
    ``autoscaling_groups[name]`` with a new group (launching new instances and
    orphaning the old group's ones) and answers success.

    Fix: raise a moto ServiceException with code ``AlreadyExists`` first; moto's
    serializer looks the code up in botocore's autoscaling model
    (AlreadyExistsFault: code AlreadyExists, httpStatusCode 400, Sender) and
    renders the standard ``<ErrorResponse><Error><Type>Sender</Type>
    <Code>AlreadyExists</Code>...`` XML, which the Rust SDK parses as
    ``AlreadyExistsFault``.
    """
    from moto.autoscaling.exceptions import AutoscalingClientError
    from moto.autoscaling.models import AutoScalingBackend

    class AlreadyExistsError(AutoscalingClientError):
        code = "AlreadyExists"

    # Keep moto's error-model lookup on the autoscaling service for this class.
    AlreadyExistsError.__module__ = "moto.autoscaling.exceptions"

    original = AutoScalingBackend.create_auto_scaling_group

    def create_auto_scaling_group(self: Any, *args: Any, **kwargs: Any) -> Any:
        name = kwargs["name"] if "name" in kwargs else (args[0] if args else None)
        if name in self.autoscaling_groups:
            raise AlreadyExistsError(
                f"AutoScalingGroup by this name already exists - "
                f"A group with the name {name} already exists"
            )
        return original(self, *args, **kwargs)

    AutoScalingBackend.create_auto_scaling_group = create_auto_scaling_group


def patch_elb_instance_health() -> None:
    """Patch (c): classic ELB instance health (DescribeInstanceHealth).

    AWS: a registered instance is InService only while it passes the ELB
    health check.  A failing instance is ``State=OutOfService,
    ReasonCode=Instance, Description="Instance has failed at least the
    UnhealthyThreshold number of health checks consecutively."``; a stopped
    one is ``OutOfService / Instance / "Instance is in stopped state."``;
    healthy ones have ReasonCode and Description "N/A".  drydock's health
    gate waits for the new release to be InService and must be tested with
    releases that never get there.

    moto 5.2.5: ELBBackend.describe_instance_health reports every registered
    running instance InService at once and non-running ones OutOfService
    (that part is right), and ELBResponse.describe_instance_health hardcodes
    ReasonCode and Description to "N/A".  There is no way to make a running
    instance unhealthy.

    Fix: instances marked through ``POST /drydock-shim/unhealthy`` (by id or
    by the AMI they were launched from) are reported OutOfService with
    ReasonCode "Instance" and the given description; non-running instances
    get ReasonCode "Instance" and "Instance is in <state> state."; the
    response uses the per-instance ReasonCode/Description.  With a world clock
    (--time-scale) the health of pending/running instances follows registration,
    boot and the ELB's health-check settings, and draining instances are listed
    (shim_world.elb_health and draining_entries).
    """
    from moto.core.responses import ActionResult
    from moto.ec2.models import ec2_backends
    from moto.elb.models import ELBBackend
    from moto.elb.responses import ELBResponse

    original = ELBBackend.describe_instance_health

    def describe_instance_health(
        self: Any, lb_name: str, instances: list[dict[str, str]]
    ) -> list[dict[str, Any]]:
        result = original(self, lb_name, instances)
        lb = self.get_load_balancer(lb_name)
        ec2 = ec2_backends[self.account_id][self.region_name]
        for entry in result:
            entry.setdefault("ReasonCode", "N/A")
            entry.setdefault("Description", "N/A")
            if entry["State"] == "Unknown":
                continue
            try:
                instance = ec2.get_instance(entry["InstanceId"])
            except Exception:  # noqa: BLE001 - moto raises InvalidInstanceIdError
                continue
            state_name = getattr(getattr(instance, "_state", None), "name", None)
            description = STATE.unhealthy_description(
                instance.id, getattr(instance, "image_id", None)
            )
            if state_name in ("pending", "running"):
                # With --time-scale: registration, boot and health checks take time.
                world = elb_health(lb, instance, description)
                if world is not None:
                    entry["State"], entry["ReasonCode"], entry["Description"] = world
                    continue
            if entry["State"] == "OutOfService" and state_name:
                entry["ReasonCode"] = "Instance"
                entry["Description"] = f"Instance is in {state_name} state."
                continue
            if description is not None:
                entry["State"] = "OutOfService"
                entry["ReasonCode"] = "Instance"
                entry["Description"] = description
        # With --time-scale: deregistered instances drain (ConnectionDraining).
        draining = draining_entries(lb, [i["InstanceId"] for i in instances])
        if draining:
            ids = {d["InstanceId"] for d in draining}
            result = [e for e in result if e["InstanceId"] not in ids] + draining
        return result

    def describe_instance_health_response(self: Any) -> ActionResult:
        lb_name = self._get_param("LoadBalancerName")
        instances = self._get_param("Instances", [])
        states = self.elb_backend.describe_instance_health(lb_name, instances)
        return ActionResult(
            {
                "InstanceStates": [
                    {
                        "InstanceId": s["InstanceId"],
                        "State": s["State"],
                        "ReasonCode": s.get("ReasonCode", "N/A"),
                        "Description": s.get("Description", "N/A"),
                    }
                    for s in states
                ]
            }
        )

    ELBBackend.describe_instance_health = describe_instance_health
    ELBResponse.describe_instance_health = describe_instance_health_response


def patch_shared_amis() -> None:
    """Patch (d): AMIs that another account shares with the caller (launch permission).

    AWS: once the owner grants an account launch permission (ModifyImageAttribute
    LaunchPermission.Add UserId=<account>), that account sees the AMI in
    DescribeImages (by ImageIds, by Owners=[<owner>], by ExecutableUsers=["self"],
    and in an unfiltered listing), without the owner's tags (tags are per
    account), and can launch it.  A cross-account `drydock promote` relies on it:
    the target account looks the shared AMI up by id before it deploys it.

    moto 5.2.5: AmiBackend.describe_images reads only the caller's own backend
    (``self.amis`` of its account and region), so the grantee gets
    InvalidAMIID.NotFound for the id it was granted (and an empty list by owner
    or ExecutableUsers=self), although ModifyImageAttribute recorded the grant
    and RunInstances from that id works (AMI validation is off).

    Fix: add views of the other accounts' AMIs in the same region whose launch
    permissions name the caller's account, without their tags, to what
    describe_images returns: for ImageIds (moto's "an error only when none
    exists" kept), Owners, ExecutableUsers and plain listings/filters.
    """
    import copy

    from moto.ec2.exceptions import InvalidAMIIdError
    from moto.ec2.models import ec2_backends
    from moto.ec2.models.amis import AmiBackend
    from moto.ec2.utils import generic_filter

    original = AmiBackend.describe_images

    def shared_with(self: Any) -> list[Any]:
        views = []
        # dict.get: look only at backends that exist, never create one.
        for account_id, regions in list(dict.items(ec2_backends)):
            if account_id == self.account_id:
                continue
            other = dict.get(regions, self.region_name)
            if other is None:
                continue
            for ami in list(other.amis.values()):
                if {"UserId": self.account_id} in ami.launch_permissions:
                    view = copy.copy(ami)
                    view.get_tags = lambda: []  # the owner's tags are not visible
                    views.append(view)
        return views

    def describe_images(
        self: Any,
        ami_ids: list[str] | None = None,
        filters: dict[str, Any] | None = None,
        exec_users: list[str] | None = None,
        owners: list[str] | None = None,
    ) -> list[Any]:
        shared = shared_with(self)
        if not shared:
            return original(self, ami_ids=ami_ids, filters=filters, exec_users=exec_users, owners=owners)
        if ami_ids:
            found = [v for v in shared if v.id in ami_ids]
            rest = [i for i in ami_ids if i not in {v.id for v in found}]
            own: list[Any] = []
            if rest or not found:
                try:
                    own = original(self, ami_ids=rest or ami_ids, filters=filters)
                except InvalidAMIIdError:
                    if not found:
                        raise
            return own + found
        own = original(self, ami_ids=ami_ids, filters=filters, exec_users=exec_users, owners=owners)
        if exec_users:
            users = {self.account_id if u == "self" else u for u in exec_users}
            shared = [v for v in shared if self.account_id in users]
        if owners:
            shared = [v for v in shared if v.owner_id in owners]
        if filters:
            shared = generic_filter(filters, shared)
        return own + shared

    AmiBackend.describe_images = describe_images


def patch_snapshot_create_volume_permission() -> None:
    """Patch (e): ModifySnapshotAttribute with CreateVolumePermission.Add/Remove.

    AWS: the create-volume permissions of a snapshot are changed either with
    OperationType + UserIds/GroupNames, or with the structure
    ``CreateVolumePermission.Add.N.UserId`` / ``.Remove.N.UserId`` (``Group``
    for ``all``), which is what the Rust SDK sends for
    ``create_volume_permission(CreateVolumePermissionModifications)``.

    moto 5.2.5: ElasticBlockStore.modify_snapshot_attribute reads only
    OperationType, UserIds and GroupNames; the structured form answers success
    and changes nothing (DescribeSnapshotAttribute createVolumePermission stays
    empty).

    Fix: apply the structure's Add and Remove lists too, then let moto handle
    the flat form as before.
    """
    from moto.ec2.responses.elastic_block_store import ElasticBlockStore

    original = ElasticBlockStore.modify_snapshot_attribute

    def modify_snapshot_attribute(self: Any) -> Any:
        self.error_on_dryrun()
        snapshot_id = self._get_param("SnapshotId")
        mods = self._get_param("CreateVolumePermission", {}) or {}
        for key, apply in (
            ("Add", self.ec2_backend.add_create_volume_permission),
            ("Remove", self.ec2_backend.remove_create_volume_permission),
        ):
            perms = mods.get(key, []) or []
            users = [p["UserId"] for p in perms if p.get("UserId")]
            groups = [p["Group"] for p in perms if p.get("Group")]
            if users or groups:
                apply(snapshot_id, user_ids=users, groups=groups)
        return original(self)

    ElasticBlockStore.modify_snapshot_attribute = modify_snapshot_attribute


PATCHES: list[tuple[str, Callable[[], None]]] = [
    ("asg-elb-registration", patch_asg_elb_registration),
    ("asg-already-exists", patch_asg_already_exists),
    ("elb-instance-health", patch_elb_instance_health),
    ("shared-amis", patch_shared_amis),
    ("snapshot-create-volume-permission", patch_snapshot_create_volume_permission),
]

