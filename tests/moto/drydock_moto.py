#!/usr/bin/env python3
"""drydock's moto fidelity shim.

Runs moto (5.2.5, from <repo>/.venv) in server mode with a few in-process
monkeypatches that make it behave like AWS where drydock's blue/green deploy
depends on it, plus a small control API and a request recorder for tests.

Usage:
    .venv/bin/python tests/moto/drydock_moto.py [--host 127.0.0.1] [--port 0] [--stock] [--verbose]

Once listening it prints exactly one line ``READY <port>`` to stdout, then
serves until SIGTERM/SIGINT and exits 0.  Everything else goes to stderr.

``--stock`` leaves moto unpatched (the request recorder and
``/drydock-shim/requests`` stay available, ``/drydock-shim/unhealthy`` does
not).  See README.md next to this file for the AWS-vs-moto details.

Control API (not recorded, JSON in and out):
    GET    /drydock-shim/info        {"stock": bool, "moto": "5.2.5", "patches": [...]}
    GET    /drydock-shim/requests    recorded AWS requests [{"service","action","t","client"}, ...];
                                     drydock's also carry "region", "account", "params" (the
                                     query/form parameters) and "resources" (each resource the
                                     request names, with its tags before the request: for the
                                     IAM policy test)
    DELETE /drydock-shim/requests    clear the recorder
    POST   /drydock-shim/unhealthy   {"amis": [...], "instances": [...], "description": "..."}
    GET    /drydock-shim/unhealthy   current unhealthy set
    DELETE /drydock-shim/unhealthy   clear the unhealthy set
    POST   /drydock-shim/hold        {"action": "CreateAutoScalingGroup"[, "after": "Action"]}
    GET    /drydock-shim/hold        {"action", "after", "armed", "held": N}
    DELETE /drydock-shim/hold        release: held requests answer 503, unprocessed
    POST   /moto-api/reset           (moto's own) also clears the recorder, the unhealthy
                                     set and the hold
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import re
import signal
import sys
import threading
import time
from typing import Any, Callable, Iterable
from urllib.parse import parse_qs

CONTROL_PREFIX = "/drydock-shim"
DEFAULT_UNHEALTHY_DESCRIPTION = (
    "Instance has failed at least the UnhealthyThreshold number of health checks "
    "consecutively."
)
EXPECTED_MOTO = "5.2.5"

log = logging.getLogger("drydock_moto")


# --------------------------------------------------------------------------
# Shared shim state (process-global; cleared by DELETE endpoints and by
# POST /moto-api/reset).
# --------------------------------------------------------------------------
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


# --------------------------------------------------------------------------
# Fidelity patches.  Each is a small wrapper/replacement of one moto method,
# applied in-process before the server starts.
# --------------------------------------------------------------------------
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
    response uses the per-instance ReasonCode/Description.
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
            if entry["State"] == "OutOfService" and state_name:
                entry["ReasonCode"] = "Instance"
                entry["Description"] = f"Instance is in {state_name} state."
                continue
            description = STATE.unhealthy_description(
                instance.id, getattr(instance, "image_id", None)
            )
            if description is not None:
                entry["State"] = "OutOfService"
                entry["ReasonCode"] = "Instance"
                entry["Description"] = description
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


def patch_image_tag_specifications() -> None:
    """Patch (f): snapshot tags in CreateImage, and TagSpecifications in CopyImage.

    AWS: CreateImage and CopyImage take TagSpecifications for ResourceType ``image``
    and ``snapshot`` ("the same tag is applied to all the new snapshots").

    moto 5.2.5: CreateImage raises NotImplementedError (HTTP 500) for a ``snapshot``
    specification; CopyImage ignores TagSpecifications altogether.

    Fix: apply image and snapshot specifications to the new AMI and its snapshot.
    """
    from moto.ec2.models.amis import AmiBackend
    from moto.ec2.responses.amis import AmisResponse
    from moto.core.responses import ActionResult

    def split(specs: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, str]]:
        images = [s for s in specs if s.get("ResourceType") != "snapshot"]
        snaps: dict[str, str] = {}
        for spec in specs:
            if spec.get("ResourceType") == "snapshot":
                for t in spec.get("Tags", []) or []:
                    snaps[t["Key"]] = t.get("Value", "")
        return images, snaps

    def tag_snapshot(backend: Any, ami: Any, tags: dict[str, str]) -> None:
        snap = getattr(ami, "ebs_snapshot", None)
        if tags and snap is not None:
            backend.create_tags([snap.id], tags)

    original_create = AmiBackend.create_image

    def create_image(self: Any, instance_id: str, name: str, description: str,
                     tag_specifications: list[dict[str, Any]]) -> Any:
        images, snaps = split(tag_specifications or [])
        ami = original_create(self, instance_id, name, description, tag_specifications=images)
        tag_snapshot(self, ami, snaps)
        return ami

    AmiBackend.create_image = create_image

    def copy_image(self: Any) -> Any:
        self.error_on_dryrun()
        specs = self._get_param("TagSpecifications", []) or []
        image = self.ec2_backend.copy_image(
            self._get_param("SourceImageId"),
            self._get_param("SourceRegion"),
            self._get_param("Name"),
            self._get_param("Description"),
        )
        images, snaps = split(specs)
        for spec in images:
            if spec.get("ResourceType") == "image":
                for t in spec.get("Tags", []) or []:
                    image.add_tag(t["Key"], t.get("Value", ""))
        tag_snapshot(self.ec2_backend, image, snaps)
        return ActionResult({"ImageId": image.id})

    AmisResponse.copy_image = copy_image


PATCHES: list[tuple[str, Callable[[], None]]] = [
    ("asg-elb-registration", patch_asg_elb_registration),
    ("asg-already-exists", patch_asg_already_exists),
    ("elb-instance-health", patch_elb_instance_health),
    ("shared-amis", patch_shared_amis),
    ("snapshot-create-volume-permission", patch_snapshot_create_volume_permission),
    ("image-tag-specifications", patch_image_tag_specifications),
]


def apply_patches() -> list[str]:
    for _, patch in PATCHES:
        patch()
    return [name for name, _ in PATCHES]


# --------------------------------------------------------------------------
# WSGI wrapper: control API + request recorder.
# --------------------------------------------------------------------------
_CREDENTIAL_RE = re.compile(r"Credential=([^,\s]+)")


def _service_from_credential(credential: str) -> str | None:
    # <key id>/<yyyymmdd>/<region>/<service>/aws4_request
    parts = credential.split("/")
    if len(parts) >= 5 and parts[-1] == "aws4_request":
        return parts[-2]
    return None


def _read_form_body(environ: dict[str, Any]) -> bytes | None:
    """Read an x-www-form-urlencoded body and put it back for moto."""
    if not environ.get("CONTENT_TYPE", "").startswith(
        "application/x-www-form-urlencoded"
    ):
        return None
    stream = environ.get("wsgi.input")
    if stream is None:
        return None
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > 0:
        body = stream.read(length)
    elif environ.get("wsgi.input_terminated"):
        body = stream.read()
    else:
        return None
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _scope_from_credential(credential: str) -> tuple[str | None, str | None]:
    """(access key id, region) of a SigV4 credential scope."""
    parts = credential.split("/")
    if len(parts) >= 5 and parts[-1] == "aws4_request":
        return parts[0], parts[-3]
    return None, None


def _tag_list(tags: Any) -> dict[str, str]:
    """ASG tags ([{"Key", "Value", ...}]) as a dict."""
    out: dict[str, str] = {}
    for t in tags or []:
        key = t.get("Key") or t.get("key")
        if key is not None:
            out[key] = t.get("Value", t.get("value", "")) or ""
    return out


def _launch_data(template: Any) -> dict[str, Any]:
    """What a launch from this template asks for: the instance and volume tags of its
    TagSpecifications, IMDS tokens and EBS encryption (version 1: drydock never uses
    another)."""
    try:
        data = template.get_version(1).data
    except Exception:  # noqa: BLE001 -- best effort for the test recorder
        data = template.latest_version().data
    by_type: dict[str, dict[str, str]] = {}
    for spec in data.get("TagSpecifications", []) or data.get("TagSpecification", []) or []:
        by_type.setdefault(spec.get("ResourceType", ""), {}).update(_tag_list(spec.get("Tags") or spec.get("Tag")))
    meta = data.get("MetadataOptions") or {}
    bdms = data.get("BlockDeviceMappings") or data.get("BlockDeviceMapping") or []
    encrypted = all(str((b.get("Ebs") or {}).get("Encrypted", "false")).lower() == "true" for b in bdms) if bdms else False
    return {
        "instance_tags": by_type.get("instance", {}),
        "volume_tags": by_type.get("volume", {}),
        "http_tokens": str(meta.get("HttpTokens", "optional")),
        "encrypted": encrypted,
    }


def _resources(service: str | None, params: dict[str, str], account: str, region: str) -> list[dict[str, Any]]:
    """Each resource a request names, with its tags as they are *before* the request."""
    out: list[dict[str, Any]] = []
    try:
        if service == "ec2":
            from moto.ec2.models import ec2_backends

            b = ec2_backends[account][region]
            refs = [v for k, v in params.items()
                    if re.fullmatch(r"(ResourceId|InstanceId)\.\d+", k)
                    or k in ("InstanceId", "ImageId", "SnapshotId", "LaunchTemplateId")]
            for ref in refs:
                out.append({"kind": "ec2", "ref": ref, "id": ref, "tags": dict(b.tags.get(ref, {}))})
            name = params.get("LaunchTemplateName")
            if name is not None:
                lt_id = b.launch_template_name_to_ids.get(name)
                out.append({"kind": "launch-template", "ref": name, "id": lt_id,
                            "tags": dict(b.tags.get(lt_id, {})) if lt_id else {}})
        elif service == "autoscaling":
            from moto.autoscaling.models import autoscaling_backends
            from moto.ec2.models import ec2_backends

            ab = autoscaling_backends[account][region]
            names = [v for k, v in params.items()
                     if k == "AutoScalingGroupName" or re.fullmatch(r"Tags\.member\.\d+\.ResourceId", k)]
            for name in dict.fromkeys(names):
                group = ab.autoscaling_groups.get(name)
                out.append({"kind": "auto-scaling-group", "ref": name, "id": name,
                            "tags": _tag_list(group.tags) if group else {}})
            lt_name = params.get("LaunchTemplate.LaunchTemplateName")
            if lt_name is not None:
                b = ec2_backends[account][region]
                lt_id = b.launch_template_name_to_ids.get(lt_name)
                entry: dict[str, Any] = {"kind": "launch-template", "ref": lt_name, "id": lt_id,
                                         "tags": dict(b.tags.get(lt_id, {})) if lt_id else {}}
                if lt_id:
                    entry["launch"] = _launch_data(b.get_launch_template(lt_id))
                out.append(entry)
        elif service == "elasticloadbalancing":
            from moto.elb.models import elb_backends

            eb = elb_backends[account][region]
            names = [v for k, v in params.items()
                     if k == "LoadBalancerName" or re.fullmatch(r"LoadBalancerNames\.member\.\d+", k)]
            for name in dict.fromkeys(names):
                lb = eb.load_balancers.get(name)
                out.append({"kind": "load-balancer", "ref": name, "id": name, "tags": dict(lb.tags) if lb else {}})
    except Exception as e:  # noqa: BLE001 -- the recorder must never break a request
        out.append({"error": f"{type(e).__name__}: {e}"})
    return out


def describe_request(environ: dict[str, Any]) -> dict[str, Any]:
    service = None
    access_key = region = None
    auth = environ.get("HTTP_AUTHORIZATION", "")
    query = parse_qs(environ.get("QUERY_STRING", ""))
    m = _CREDENTIAL_RE.search(auth)
    if m:
        service = _service_from_credential(m.group(1))
        access_key, region = _scope_from_credential(m.group(1))
    elif "X-Amz-Credential" in query:
        service = _service_from_credential(query["X-Amz-Credential"][0])
        access_key, region = _scope_from_credential(query["X-Amz-Credential"][0])

    params = {k: v[0] for k, v in query.items()}
    body = _read_form_body(environ)
    if body:
        form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        params.update({k: v[0] for k, v in form.items()})
    action = params.get("Action")
    if action is None:
        target = environ.get("HTTP_X_AMZ_TARGET")
        if target:
            action = target.rsplit(".", 1)[-1]
    # The client: drydock (the Rust SDK) or a test/guest script (boto3), so that tests
    # and benchmarks can count drydock's own requests.
    agent = environ.get("HTTP_USER_AGENT", "")
    if "app/drydock-tests" in agent:
        client = "test"
    elif "aws-sdk-rust" in agent:
        client = "drydock"
    elif "Boto3" in agent or "Botocore" in agent:
        client = "boto3"
    else:
        client = "other"
    entry: dict[str, Any] = {"service": service, "action": action, "t": time.time(), "client": client}
    if client == "drydock" and region:
        from moto.iam.models import get_account_id_from

        account = get_account_id_from(access_key or "")
        entry.update({
            "region": region,
            "account": account,
            "params": params,
            "resources": _resources(service, params, account, region),
        })
    return entry


class ShimApp:
    def __init__(self, inner: Callable[..., Any], patches: list[str]) -> None:
        self.inner = inner
        self.patches = patches

    @property
    def stock(self) -> bool:
        return not self.patches

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "") or ""
        if isinstance(path, bytes):
            path = path.decode("utf-8", "replace")
        if path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/"):
            return self.control(environ, start_response, path)
        method = environ.get("REQUEST_METHOD", "GET")
        if path.startswith("/moto-api"):
            if method == "POST" and path.rstrip("/") == "/moto-api/reset":
                STATE.reset()
                HOLD.release()
        elif not path.startswith("/latest/"):  # instance metadata is not an API call
            entry = describe_request(environ)
            STATE.record(entry)
            if HOLD.check(entry["action"]):
                return _held_response(start_response, entry["service"], entry["action"])
        return self.inner(environ, start_response)

    # -- control API -------------------------------------------------------
    def control(self, environ: dict[str, Any], start_response: Any, path: str) -> Any:
        method = environ.get("REQUEST_METHOD", "GET")
        route = path[len(CONTROL_PREFIX):].rstrip("/")
        try:
            if route == "/info" and method == "GET":
                from moto import __version__ as moto_version

                return _json(start_response, 200, {
                    "stock": self.stock,
                    "moto": moto_version,
                    "patches": self.patches,
                })
            if route == "/requests":
                if method == "GET":
                    return _json(start_response, 200, STATE.recorded())
                if method == "DELETE":
                    return _json(start_response, 200, {"cleared": STATE.clear_requests()})
                return _json(start_response, 405, {"error": f"{method} not allowed"})
            if route == "/unhealthy":
                if self.stock:
                    return _json(start_response, 404, {
                        "error": "fidelity patches are disabled (--stock)"
                    })
                if method == "GET":
                    return _json(start_response, 200, STATE.unhealthy_snapshot())
                if method == "DELETE":
                    STATE.clear_unhealthy()
                    return _json(start_response, 200, STATE.unhealthy_snapshot())
                if method == "POST":
                    body = _read_json(environ)
                    amis = _str_list(body, "amis")
                    instances = _str_list(body, "instances")
                    description = body.get("description") or DEFAULT_UNHEALTHY_DESCRIPTION
                    if not isinstance(description, str):
                        raise ValueError("description must be a string")
                    STATE.mark_unhealthy(amis, instances, description)
                    return _json(start_response, 200, STATE.unhealthy_snapshot())
                return _json(start_response, 405, {"error": f"{method} not allowed"})
            if route == "/hold":
                if method == "GET":
                    return _json(start_response, 200, HOLD.snapshot())
                if method == "DELETE":
                    released = HOLD.release()
                    return _json(start_response, 200, {**HOLD.snapshot(), "released": released})
                if method == "POST":
                    body = _read_json(environ)
                    action = body.get("action")
                    after = body.get("after")
                    if not isinstance(action, str) or not action:
                        raise ValueError("action must be a non-empty string")
                    if after is not None and (not isinstance(after, str) or not after):
                        raise ValueError("after must be a non-empty string")
                    HOLD.set(action, after)
                    return _json(start_response, 200, HOLD.snapshot())
                return _json(start_response, 405, {"error": f"{method} not allowed"})
        except ValueError as e:
            return _json(start_response, 400, {"error": str(e)})
        return _json(start_response, 404, {"error": f"no such endpoint: {method} {path}"})


def _read_json(environ: dict[str, Any]) -> dict[str, Any]:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    stream = environ["wsgi.input"]
    raw = stream.read(length) if length > 0 else stream.read()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except json.JSONDecodeError as e:
        raise ValueError(f"invalid JSON body: {e}") from e
    if not isinstance(body, dict):
        raise ValueError("JSON body must be an object")
    return body


def _str_list(body: dict[str, Any], key: str) -> list[str]:
    value = body.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{key} must be a list of strings")
    return value


def _held_response(start_response: Any, service: str | None, action: str | None) -> list[bytes]:
    """HTTP 503 in the service's query-protocol error shape (EC2's differs)."""
    message = f"{action} was held by the drydock shim and not processed"
    if service == "ec2":
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
            f"<Code>ServiceUnavailable</Code><Message>{message}</Message>"
            "</Error></Errors><RequestID>drydock-shim-hold</RequestID></Response>"
        )
    else:
        body = (
            "<ErrorResponse><Error><Type>Receiver</Type><Code>ServiceUnavailable</Code>"
            f"<Message>{message}</Message></Error>"
            "<RequestId>drydock-shim-hold</RequestId></ErrorResponse>"
        )
    data = body.encode()
    start_response(
        "503 Service Unavailable",
        [("Content-Type", "text/xml"), ("Content-Length", str(len(data)))],
    )
    return [data]


def _json(start_response: Any, status: int, payload: Any) -> list[bytes]:
    reasons = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}
    data = json.dumps(payload).encode()
    start_response(
        f"{status} {reasons.get(status, 'Error')}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(data)))],
    )
    return [data]


# --------------------------------------------------------------------------
# Server
# --------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="listen port; 0 picks a free one (default)")
    parser.add_argument("--stock", action="store_true", help="do not apply the fidelity patches")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args(argv)

    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO if args.verbose else logging.WARNING,
        format="drydock_moto: %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)

    import moto
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    if moto.__version__ != EXPECTED_MOTO:
        log.warning(
            "moto %s is installed but the shim was written for %s; run tests/moto/venv.sh",
            moto.__version__,
            EXPECTED_MOTO,
        )

    patches = [] if args.stock else apply_patches()
    app = ShimApp(DomainDispatcherApplication(create_backend_app), patches)
    server = make_server(
        args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler
    )
    port = server.server_address[1]

    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    thread = threading.Thread(target=server.serve_forever, name="moto", daemon=True)
    thread.start()
    sys.stdout.write(f"READY {port}\n")
    sys.stdout.flush()
    log.info("serving on %s:%d (%s)", args.host, port, "stock" if args.stock else "patched")

    while not stop.wait(0.5):
        if not thread.is_alive():
            log.error("server thread died")
            return 1
    HOLD.release()  # held request threads answer and end
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
