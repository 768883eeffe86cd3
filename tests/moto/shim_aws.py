"""Fidelity patches (f)-(j), (q), (r): AWS semantics moto 5.2.5 gets wrong that drydock relies on.

On by default in the patched shim, like (a)-(e).  See README.md for the table.
"""

from __future__ import annotations

import threading
from typing import Any

IDEMPOTENT_MISMATCH = (
    "Arguments on this idempotent request are inconsistent with arguments used in "
    "previous request(s)."
)
_TOKENS_LOCK = threading.RLock()


def patch_launch_template_tags() -> None:
    """Patch (f): tags written to a launch template with EC2 CreateTags/DeleteTags.

    AWS: DescribeLaunchTemplates shows a template's current tags, including the ones
    added later with CreateTags (and filters on them with ``tag:<key>``).  drydock
    tags its launch templates and finds them again by tag.

    moto 5.2.5: ``LaunchTemplate.__init__`` copies the tags into ``self.tags`` once,
    at creation, and the responses render that copy: a later CreateTags lands in the
    EC2 tag store (DescribeTags and the ``tag:`` filter see it) but never shows up
    in the template's Tags.

    Fix: ``LaunchTemplate.tags`` becomes a read-through property over the tag store.
    """
    from moto.ec2.models.launch_templates import LaunchTemplate

    def get_tags(self: Any) -> list[dict[str, str]]:
        return self.get_tags()

    def set_tags(self: Any, value: Any) -> None:
        pass  # moto's one-off copy at creation; the tag store is the truth

    LaunchTemplate.tags = property(get_tags, set_tags)


def _fingerprint(response: Any) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The request's parameters, without the client token and the signature."""
    skip = {"ClientToken", "Action", "Version"}
    items = []
    for key, values in (response.querystring or {}).items():
        if key in skip or key.startswith("X-Amz-"):
            continue
        items.append((key, tuple(str(v) for v in values)))
    return tuple(sorted(items))


def _tokens(backend: Any) -> dict[tuple[str, str], tuple[Any, str]]:
    # On the backend object, so that moto's reset drops it too.
    return backend.__dict__.setdefault("_drydock_client_tokens", {})


def patch_client_token_idempotency() -> None:
    """Patch (g): ClientToken makes RunInstances and CreateLaunchTemplate idempotent.

    AWS: a retried request with the same ClientToken and the same parameters
    returns the first request's result and creates nothing (RunInstances: the same
    reservation and instances; CreateLaunchTemplate: the existing template).  The
    same token with other parameters fails with ``IdempotentParameterMismatch``.
    drydock passes a ClientToken on both so that an SDK retry after a lost
    response does not launch a second builder or fail on its own template.

    moto 5.2.5: RunInstances ignores the token (a retry launches new instances);
    CreateLaunchTemplate ignores it too, so its retry fails with
    ``InvalidLaunchTemplateName.AlreadyExistsException``.

    Fix: remember (token -> parameters, result) per EC2 backend and answer a repeat
    from it.
    """
    from moto.core.responses import ActionResult
    from moto.ec2.exceptions import EC2ClientError
    from moto.ec2.responses.instances import InstanceResponse
    from moto.ec2.responses.launch_templates import LaunchTemplates

    def mismatch() -> Exception:
        return EC2ClientError("IdempotentParameterMismatch", IDEMPOTENT_MISMATCH)

    original_run = InstanceResponse.run_instances

    def run_instances(self: Any) -> Any:
        token = self._get_param("ClientToken")
        if not token:
            return original_run(self)
        key, fingerprint = ("RunInstances", token), _fingerprint(self)
        with _TOKENS_LOCK:
            seen = _tokens(self.ec2_backend).get(key)
            if seen is not None:
                if seen[0] != fingerprint:
                    raise mismatch()
                reservation = self.ec2_backend.reservations.get(seen[1])
                if reservation is not None:
                    return ActionResult(reservation)
            result = original_run(self)
            reservation_id = getattr(result.result, "id", None)
            if reservation_id is not None:
                _tokens(self.ec2_backend)[key] = (fingerprint, reservation_id)
            return result

    InstanceResponse.run_instances = run_instances

    original_create = LaunchTemplates.create_launch_template

    def create_launch_template(self: Any) -> Any:
        token = self._get_param("ClientToken")
        if not token:
            return original_create(self)
        key, fingerprint = ("CreateLaunchTemplate", token), _fingerprint(self)
        with _TOKENS_LOCK:
            seen = _tokens(self.ec2_backend).get(key)
            if seen is not None:
                if seen[0] != fingerprint:
                    raise mismatch()
                template = self.ec2_backend.launch_templates.get(seen[1])
                if template is not None:
                    version = template.default_version()
                    return ActionResult(
                        {
                            "LaunchTemplate": {
                                "CreateTime": version.create_time,
                                "CreatedBy": f"arn:{self.partition}:iam::{self.current_account}:root",
                                "DefaultVersionNumber": template.default_version_number,
                                "LatestVersionNumber": template.versions[-1].number,
                                "LaunchTemplateId": template.id,
                                "LaunchTemplateName": template.name,
                                "Tags": template.tags,
                            }
                        }
                    )
            result = original_create(self)
            name = self._get_param("LaunchTemplateName")
            template_id = self.ec2_backend.launch_template_name_to_ids.get(name)
            if template_id is not None:
                _tokens(self.ec2_backend)[key] = (fingerprint, template_id)
            return result

    LaunchTemplates.create_launch_template = create_launch_template


def patch_image_name_duplicate() -> None:
    """Patch (h): CreateImage/RegisterImage with a name the owner already uses.

    AWS: AMI names are unique per owner and region; CreateImage with a taken name
    fails with ``InvalidAMIName.Duplicate`` ("AMI name <name> is already in use by
    AMI <id>") and creates nothing.  A re-run of a bake that already produced its
    AMI must see this error.

    moto 5.2.5: AmiBackend.create_image (and register_image) never look at names;
    a second image with the same name is created.

    Fix: check the backend's images (the caller's account and region) first.
    Deregistered images free their name, as on AWS.
    """
    from moto.ec2.exceptions import EC2ClientError
    from moto.ec2.models.amis import AmiBackend

    def check(self: Any, name: str | None) -> None:
        if not name:
            return
        for ami in list(self.amis.values()):
            if ami.name == name and ami.owner_id == self.account_id:
                raise EC2ClientError(
                    "InvalidAMIName.Duplicate", f"AMI name {name} is already in use by AMI {ami.id}"
                )

    original_create = AmiBackend.create_image
    original_register = AmiBackend.register_image

    def create_image(self: Any, *args: Any, **kwargs: Any) -> Any:
        check(self, kwargs["name"] if "name" in kwargs else (args[1] if len(args) > 1 else None))
        return original_create(self, *args, **kwargs)

    def register_image(self: Any, *args: Any, **kwargs: Any) -> Any:
        check(self, kwargs["name"] if "name" in kwargs else (args[0] if args else None))
        return original_register(self, *args, **kwargs)

    AmiBackend.create_image = create_image
    AmiBackend.register_image = register_image


def patch_asg_size_limits() -> None:
    """Patch (i): an Auto Scaling group's MinSize/MaxSize bound its DesiredCapacity.

    AWS: SetDesiredCapacity outside [MinSize, MaxSize] fails with ValidationError
    "New SetDesiredCapacity value 5 is above max value 2 for the AutoScalingGroup."
    (or "... is below min value ..."); CreateAutoScalingGroup and
    UpdateAutoScalingGroup with an explicit DesiredCapacity outside the (new)
    bounds fail with "Desired capacity:5 must be between the specified min size:0
    and max size:2".  Nothing changes.

    moto 5.2.5: all three accept any DesiredCapacity and launch that many instances.

    Fix: validate in the three response handlers before moto acts (moto's own
    internal scaling, e.g. DeleteAutoScalingGroup going to 0, is untouched).
    """
    from moto.autoscaling.exceptions import ValidationError
    from moto.autoscaling.responses import AutoScalingResponse

    def between(desired: int | None, min_size: int | None, max_size: int | None) -> None:
        if desired is None:
            return
        if (max_size is not None and desired > max_size) or (
            min_size is not None and desired < min_size
        ):
            raise ValidationError(
                f"Desired capacity:{desired} must be between the specified min size:"
                f"{min_size} and max size:{max_size}"
            )

    original_set = AutoScalingResponse.set_desired_capacity
    original_update = AutoScalingResponse.update_auto_scaling_group
    original_create = AutoScalingResponse.create_auto_scaling_group

    def set_desired_capacity(self: Any) -> Any:
        group = self.autoscaling_backend.autoscaling_groups.get(
            self._get_param("AutoScalingGroupName")
        )
        desired = self._get_int_param("DesiredCapacity")
        if group is not None and desired is not None:
            if group.max_size is not None and desired > group.max_size:
                raise ValidationError(
                    f"New SetDesiredCapacity value {desired} is above max value "
                    f"{group.max_size} for the AutoScalingGroup."
                )
            if group.min_size is not None and desired < group.min_size:
                raise ValidationError(
                    f"New SetDesiredCapacity value {desired} is below min value "
                    f"{group.min_size} for the AutoScalingGroup."
                )
        return original_set(self)

    def update_auto_scaling_group(self: Any) -> Any:
        group = self.autoscaling_backend.autoscaling_groups.get(
            self._get_param("AutoScalingGroupName")
        )
        if group is not None:
            min_size = self._get_int_param("MinSize")
            max_size = self._get_int_param("MaxSize")
            between(
                self._get_int_param("DesiredCapacity"),
                group.min_size if min_size is None else min_size,
                group.max_size if max_size is None else max_size,
            )
        return original_update(self)

    def create_auto_scaling_group(self: Any) -> Any:
        between(
            self._get_int_param("DesiredCapacity"),
            self._get_int_param("MinSize"),
            self._get_int_param("MaxSize"),
        )
        return original_create(self)

    AutoScalingResponse.set_desired_capacity = set_desired_capacity
    AutoScalingResponse.update_auto_scaling_group = update_auto_scaling_group
    AutoScalingResponse.create_auto_scaling_group = create_auto_scaling_group


def patch_image_tag_specifications() -> None:
    """Patch (j): snapshot tags in CreateImage, and TagSpecifications in CopyImage.

    AWS: CreateImage and CopyImage take TagSpecifications for ResourceType ``image``
    and ``snapshot`` ("the same tag is applied to all the new snapshots").  drydock
    tags AMIs and snapshots only this way: its IAM policy allows EC2 tags only at
    creation (``ec2:CreateAction``).

    moto 5.2.5: CreateImage raises NotImplementedError (HTTP 500) for a ``snapshot``
    specification; CopyImage ignores TagSpecifications altogether.

    Fix: apply image and snapshot specifications to the new AMI and its snapshot.
    """
    from moto.core.responses import ActionResult
    from moto.ec2.models.amis import AmiBackend
    from moto.ec2.responses.amis import AmisResponse

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

    def create_image(self: Any, *args: Any, **kwargs: Any) -> Any:
        if "tag_specifications" in kwargs:
            images, snaps = split(kwargs["tag_specifications"] or [])
            kwargs["tag_specifications"] = images
        elif len(args) > 3:
            images, snaps = split(args[3] or [])
            args = (*args[:3], images, *args[4:])
        else:
            snaps = {}
        ami = original_create(self, *args, **kwargs)
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
        tags = {t["Key"]: t.get("Value", "") for spec in images for t in spec.get("Tags", []) or []}
        if tags:
            self.ec2_backend.create_tags([image.id], tags)
        tag_snapshot(self.ec2_backend, image, snaps)
        return ActionResult({"ImageId": image.id})

    AmisResponse.copy_image = copy_image


def patch_asg_filter_value_limit() -> None:
    """Patch (q): DescribeAutoScalingGroups takes at most 5 values per filter.

    AWS: a filter with more values fails with ValidationError "The request isn't valid.
    The number of values specified for the tag:K filter type exceeds the maximum of 5
    tag:K." (as quoted in aws-solutions/instance-scheduler-on-aws issue 549), so a tool
    that describes many clusters' groups by one tag filter must send 5 values a call.

    moto 5.2.5: any number of values.

    Fix: count each filter's values in the response handler before moto reads them.
    """
    from moto.autoscaling.exceptions import ValidationError
    from moto.autoscaling.responses import AutoScalingResponse

    original = AutoScalingResponse.describe_auto_scaling_groups

    def describe_auto_scaling_groups(self: Any) -> Any:
        for f in self._get_param("Filters", []) or []:
            name = f.get("Name", "")
            if len(f.get("Values", []) or []) > 5:
                raise ValidationError(
                    "The request isn't valid. The number of values specified for the "
                    f"{name} filter type exceeds the maximum of 5 {name}."
                )
        return original(self)

    AutoScalingResponse.describe_auto_scaling_groups = describe_auto_scaling_groups  # type: ignore[method-assign]


def patch_asg_names_limit() -> None:
    """Patch (r): DescribeAutoScalingGroups takes at most MaxRecords group names.

    AWS: "By default, you can only specify up to 50 names. You can optionally increase
    this limit using the MaxRecords property" (API reference; MaxRecords: default 50,
    at most 100).  More fail with ValidationError "The number of group names that may
    be passed in is limited to 50." (quoted in boto/botocore issue 1444 and
    kubernetes/autoscaler issue 1228, whose fix sends names in chunks of MaxRecords).

    moto 5.2.5: any number of names.

    Fix: count the names in the response handler before moto reads them.
    """
    from moto.autoscaling.exceptions import ValidationError
    from moto.autoscaling.responses import AutoScalingResponse

    original = AutoScalingResponse.describe_auto_scaling_groups

    def describe_auto_scaling_groups(self: Any) -> Any:
        names = self._get_param("AutoScalingGroupNames", []) or []
        limit = self._get_int_param("MaxRecords", 50)
        if len(names) > limit:
            raise ValidationError(f"The number of group names that may be passed in is limited to {limit}.")
        return original(self)

    AutoScalingResponse.describe_auto_scaling_groups = describe_auto_scaling_groups  # type: ignore[method-assign]
