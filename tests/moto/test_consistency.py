"""Eventual consistency (--consistency-ms): young resources are missing from Describe
calls and tag writes show late.  Bounds are real time: a resource created at t can
not show before t + MS, whatever the machine's load."""

from __future__ import annotations

import time

from botocore.exceptions import ClientError

from shimtest import Aws, Server, until

MS = 600


def _instances(aws: Aws, **kwargs: object) -> list[str]:
    reservations = aws.ec2.describe_instances(**kwargs)["Reservations"]
    return [i["InstanceId"] for r in reservations for i in r["Instances"]]


def _code(call: object) -> str | None:
    """The error code of the call, or None if it succeeded."""
    try:
        call()  # type: ignore[operator]
    except ClientError as e:
        return e.response["Error"]["Code"]
    return None


def test_consistency_young_resources_are_missing(world: Server) -> None:
    aws = Aws(world)
    subnet = aws.subnets[0]
    world.set_world(consistency_ms=MS)
    window = MS / 1000

    def young(t: float, observation: bool, what: str) -> None:
        """An observation that returned within MS of its resource's creation call."""
        if time.monotonic() - t < window:
            assert observation, what

    t_lt = time.monotonic()
    lt = aws.launch_template(aws.amis[0])
    try:
        aws.create_group("early", lt, 0)
        refused = None
    except ClientError as e:
        refused = e.response["Error"]
    young(t_lt, refused == {
        "Type": "Sender",
        "Code": "ValidationError",
        "Message": "You must use a valid fully-formed launch template. The specified launch "
        f"template, with template ID {lt}, does not exist.",
    }, f"CreateAutoScalingGroup refused: {refused}")
    young(t_lt, aws.ec2.describe_launch_templates(LaunchTemplateIds=[lt])["LaunchTemplates"] == [], "by id")
    young(t_lt, _code(lambda: aws.ec2.describe_launch_templates(LaunchTemplateNames=[aws.name("lt")]))
          == "InvalidLaunchTemplateName.NotFoundException", "by name")
    young(t_lt, _code(lambda: aws.ec2.describe_launch_template_versions(LaunchTemplateId=lt))
          == "InvalidLaunchTemplateId.NotFound", "versions")

    t_i = time.monotonic()
    iid = aws.ec2.run_instances(ImageId=aws.amis[0], MinCount=1, MaxCount=1, SubnetId=subnet)["Instances"][0]["InstanceId"]
    young(t_i, _code(lambda: aws.ec2.describe_instances(InstanceIds=[iid])) == "InvalidInstanceID.NotFound", "instance")
    young(t_i, iid not in _instances(aws), "instance listed")
    t_im = time.monotonic()
    image = aws.ec2.create_image(InstanceId=iid, Name=aws.name("young"))["ImageId"]
    young(t_im, _code(lambda: aws.ec2.describe_images(ImageIds=[image])) == "InvalidAMIID.NotFound", "image")

    until(lambda: iid in _instances(aws), 5, "instance visible")
    assert time.monotonic() - t_i >= window
    assert [t["LaunchTemplateId"] for t in aws.ec2.describe_launch_templates(LaunchTemplateIds=[lt])["LaunchTemplates"]] == [lt]
    def image_visible() -> bool:
        try:
            return bool(aws.ec2.describe_images(ImageIds=[image])["Images"])
        except ClientError:
            return False

    until(image_visible, 5, "image visible")
    assert time.monotonic() - t_im >= window
    # The template is old enough now; the new group is young in its turn.
    t_g = time.monotonic()
    group = aws.create_group("late", lt, 0)

    def groups() -> list[dict]:
        return aws.asg.describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"]

    young(t_g, groups() == [], "group")
    until(groups, 5, "group visible")
    assert time.monotonic() - t_g >= window


def test_consistency_tag_writes_show_late(world: Server) -> None:
    aws = Aws(world)
    lb = aws.load_balancer()
    lt = aws.launch_template(aws.amis[0])
    group = aws.create_group("tags", lt, 0)
    iid = aws.ec2.run_instances(ImageId=aws.amis[0], MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    aws.ec2.create_tags(Resources=[iid, lt], Tags=[{"Key": "old", "Value": "1"}, {"Key": "gone", "Value": "x"}])
    world.set_world(consistency_ms=MS)

    def ec2_tags(rid: str) -> dict[str, str]:
        tags = aws.ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [rid]}])["Tags"]
        return {t["Key"]: t["Value"] for t in tags}

    def asg_tags() -> dict[str, str]:
        return {t["Key"]: t["Value"] for t in aws.group(group).get("Tags", [])}

    def elb_tags() -> dict[str, str]:
        desc = aws.elb.describe_tags(LoadBalancerNames=[lb])["TagDescriptions"][0]
        return {t["Key"]: t["Value"] for t in desc["Tags"]}

    def lt_tags() -> dict[str, str]:
        found = aws.ec2.describe_launch_templates(LaunchTemplateIds=[lt])["LaunchTemplates"][0]
        return {t["Key"]: t["Value"] for t in found.get("Tags", [])}

    t0 = time.monotonic()
    aws.ec2.create_tags(Resources=[iid, lt], Tags=[{"Key": "old", "Value": "2"}, {"Key": "new", "Value": "y"}])
    aws.ec2.delete_tags(Resources=[iid, lt], Tags=[{"Key": "gone"}])
    aws.asg.create_or_update_tags(Tags=[{
        "ResourceId": group, "ResourceType": "auto-scaling-group", "Key": "k",
        "Value": "v", "PropagateAtLaunch": False,
    }])
    aws.elb.add_tags(LoadBalancerNames=[lb], Tags=[{"Key": "k", "Value": "v"}])
    before = {
        "instance": ec2_tags(iid), "template": lt_tags(), "template-store": ec2_tags(lt),
        "group": asg_tags(), "elb": elb_tags(),
    }
    filtered = _instances(aws, Filters=[{"Name": "tag:new", "Values": ["y"]}])
    if time.monotonic() - t0 < MS / 1000:  # all read within the window: the old values
        assert before == {
            "instance": {"old": "1", "gone": "x"},
            "template": {"old": "1", "gone": "x"},
            "template-store": {"old": "1", "gone": "x"},
            "group": {},
            "elb": {},
        }
        assert iid not in filtered

    until(lambda: ec2_tags(iid) == {"old": "2", "new": "y"}, 5, "EC2 tags visible")
    assert time.monotonic() - t0 >= MS / 1000
    assert lt_tags() == {"old": "2", "new": "y"}
    assert asg_tags() == {"k": "v"} and elb_tags() == {"k": "v"}
    assert iid in _instances(aws, Filters=[{"Name": "tag:new", "Values": ["y"]}])

    # Removals lag as well; switching consistency off applies what is pending at once.
    aws.elb.remove_tags(LoadBalancerNames=[lb], Tags=[{"Key": "k"}])
    aws.asg.delete_tags(Tags=[{"ResourceId": group, "ResourceType": "auto-scaling-group", "Key": "k"}])
    world.set_world(consistency_ms=0)
    assert elb_tags() == {} and asg_tags() == {}
