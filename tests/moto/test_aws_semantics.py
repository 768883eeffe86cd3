"""Fidelity patches (f)-(i): test_stock_* asserts moto 5.2.5's wrong behaviour (so a
moto upgrade that fixes it fails here), test_shim_* the AWS behaviour."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from shimtest import Aws, Server

MISMATCH = (
    "Arguments on this idempotent request are inconsistent with arguments used in "
    "previous request(s)."
)


def _error(call: object) -> dict:
    with pytest.raises(ClientError) as e:
        call()  # type: ignore[operator]
    return {**e.value.response["Error"], "status": e.value.response["ResponseMetadata"]["HTTPStatusCode"]}


# --------------------------------------------------------------------------
# (f) tags written to a launch template with CreateTags
# --------------------------------------------------------------------------
def _tagged_template(aws: Aws) -> str:
    lt = aws.ec2.create_launch_template(
        LaunchTemplateName=aws.name("tagged"),
        LaunchTemplateData={"ImageId": aws.amis[0]},
        TagSpecifications=[{"ResourceType": "launch-template", "Tags": [{"Key": "a", "Value": "1"}]}],
    )["LaunchTemplate"]["LaunchTemplateId"]
    aws.ec2.create_tags(Resources=[lt], Tags=[{"Key": "drydock:release", "Value": aws.suffix}])
    return lt


def _template_tags(aws: Aws, lt: str) -> dict[str, str]:
    found = aws.ec2.describe_launch_templates(LaunchTemplateIds=[lt])["LaunchTemplates"][0]
    return {t["Key"]: t["Value"] for t in found.get("Tags", [])}


def _by_release_tag(aws: Aws) -> list[str]:
    found = aws.ec2.describe_launch_templates(
        Filters=[{"Name": "tag:drydock:release", "Values": [aws.suffix]}]
    )["LaunchTemplates"]
    return [t["LaunchTemplateId"] for t in found]


def test_stock_launch_template_hides_tags_from_create_tags(stock: Server) -> None:
    aws = Aws(stock)
    lt = _tagged_template(aws)
    assert _template_tags(aws, lt) == {"a": "1"}  # moto: only the tags given at creation
    assert _by_release_tag(aws) == [lt]  # the tag: filter was already right


def test_shim_launch_template_shows_tags_from_create_tags(shim: Server) -> None:
    aws = Aws(shim)
    lt = _tagged_template(aws)
    assert _template_tags(aws, lt) == {"a": "1", "drydock:release": aws.suffix}
    assert _by_release_tag(aws) == [lt]
    aws.ec2.delete_tags(Resources=[lt], Tags=[{"Key": "a"}])
    assert _template_tags(aws, lt) == {"drydock:release": aws.suffix}


# --------------------------------------------------------------------------
# (g) ClientToken idempotency
# --------------------------------------------------------------------------
def _run(aws: Aws, token: str, instance_type: str = "t3.micro") -> dict:
    return aws.ec2.run_instances(
        ImageId=aws.amis[0], MinCount=1, MaxCount=1, InstanceType=instance_type, ClientToken=token
    )


def _create_template(aws: Aws, token: str, ami: str) -> dict:
    return aws.ec2.create_launch_template(
        LaunchTemplateName=aws.name("idem"), LaunchTemplateData={"ImageId": ami}, ClientToken=token
    )["LaunchTemplate"]


def test_stock_client_token_is_ignored(stock: Server) -> None:
    aws = Aws(stock)
    token = aws.name("run")
    first, second = _run(aws, token), _run(aws, token)
    assert first["ReservationId"] != second["ReservationId"]  # a second instance
    _create_template(aws, aws.name("lt"), aws.amis[0])
    err = _error(lambda: _create_template(aws, aws.name("lt"), aws.amis[0]))
    assert err["Code"] == "InvalidLaunchTemplateName.AlreadyExistsException"


def test_shim_client_token_makes_creates_idempotent(shim: Server) -> None:
    aws = Aws(shim)
    token = aws.name("run")
    first = _run(aws, token)
    second = _run(aws, token)
    assert second["ReservationId"] == first["ReservationId"]
    assert [i["InstanceId"] for i in second["Instances"]] == [i["InstanceId"] for i in first["Instances"]]
    everything = aws.ec2.describe_instances()["Reservations"]
    assert [i["InstanceId"] for r in everything for i in r["Instances"] if i.get("ClientToken") == token] == [
        first["Instances"][0]["InstanceId"]
    ]
    err = _error(lambda: _run(aws, token, instance_type="t3.large"))
    assert (err["Code"], err["Message"], err["status"]) == ("IdempotentParameterMismatch", MISMATCH, 400)
    assert _run(aws, aws.name("other"))["ReservationId"] != first["ReservationId"]

    lt_token = aws.name("lt")
    created = _create_template(aws, lt_token, aws.amis[0])
    again = _create_template(aws, lt_token, aws.amis[0])
    assert again["LaunchTemplateId"] == created["LaunchTemplateId"]
    assert again["LaunchTemplateName"] == created["LaunchTemplateName"]
    err = _error(lambda: _create_template(aws, lt_token, aws.amis[1]))
    assert err["Code"] == "IdempotentParameterMismatch"
    # Without a token (or with a new one) the name is still taken.
    err = _error(lambda: _create_template(aws, aws.name("lt2"), aws.amis[0]))
    assert err["Code"] == "InvalidLaunchTemplateName.AlreadyExistsException"


# --------------------------------------------------------------------------
# (h) CreateImage with a name already in use
# --------------------------------------------------------------------------
def _builder(aws: Aws) -> str:
    return aws.ec2.run_instances(ImageId=aws.amis[0], MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]


def test_stock_create_image_accepts_a_duplicate_name(stock: Server) -> None:
    aws = Aws(stock)
    iid, name = _builder(aws), aws.name("release-1")
    first = aws.ec2.create_image(InstanceId=iid, Name=name)["ImageId"]
    second = aws.ec2.create_image(InstanceId=iid, Name=name)["ImageId"]
    assert first != second


def test_shim_create_image_duplicate_name(shim: Server) -> None:
    aws = Aws(shim)
    iid, name = _builder(aws), aws.name("release-1")
    first = aws.ec2.create_image(InstanceId=iid, Name=name)["ImageId"]
    err = _error(lambda: aws.ec2.create_image(InstanceId=iid, Name=name))
    assert (err["Code"], err["Message"], err["status"]) == (
        "InvalidAMIName.Duplicate", f"AMI name {name} is already in use by AMI {first}", 400,
    )
    mine = aws.ec2.describe_images(Filters=[{"Name": "name", "Values": [name]}])["Images"]
    assert [i["ImageId"] for i in mine] == [first]
    # A deregistered image frees its name.
    aws.ec2.deregister_image(ImageId=first)
    assert aws.ec2.create_image(InstanceId=iid, Name=name)["ImageId"] != first


# --------------------------------------------------------------------------
# (i) MinSize/MaxSize bound DesiredCapacity
# --------------------------------------------------------------------------
def test_stock_asg_max_size_is_not_enforced(stock: Server) -> None:
    aws = Aws(stock)
    lt = aws.launch_template(aws.amis[0])
    group = aws.create_group("g", lt, 1, max_size=2)
    aws.asg.set_desired_capacity(AutoScalingGroupName=group, DesiredCapacity=3)
    assert len(aws.group_instances(group)) == 3
    aws.asg.update_auto_scaling_group(AutoScalingGroupName=group, DesiredCapacity=4)
    assert aws.group(group)["DesiredCapacity"] == 4
    over = aws.create_group("over", lt, 3, max_size=2)
    assert len(aws.group_instances(over)) == 3


def test_shim_asg_size_limits(shim: Server) -> None:
    aws = Aws(shim)
    lt = aws.launch_template(aws.amis[0])
    group = aws.create_group("g", lt, 1, max_size=2)
    before = aws.group_instances(group)
    err = _error(lambda: aws.asg.set_desired_capacity(AutoScalingGroupName=group, DesiredCapacity=3))
    assert (err["Code"], err["Type"], err["Message"], err["status"]) == (
        "ValidationError", "Sender",
        "New SetDesiredCapacity value 3 is above max value 2 for the AutoScalingGroup.", 400,
    )
    aws.asg.update_auto_scaling_group(AutoScalingGroupName=group, MinSize=1)
    err = _error(lambda: aws.asg.set_desired_capacity(AutoScalingGroupName=group, DesiredCapacity=0))
    assert err["Message"] == "New SetDesiredCapacity value 0 is below min value 1 for the AutoScalingGroup."
    err = _error(lambda: aws.asg.update_auto_scaling_group(AutoScalingGroupName=group, DesiredCapacity=4))
    assert err["Message"] == "Desired capacity:4 must be between the specified min size:1 and max size:2"
    assert aws.group(group)["DesiredCapacity"] == 1 and aws.group_instances(group) == before
    # Raising MaxSize in the same call makes room; the bounds are the new ones.
    aws.asg.update_auto_scaling_group(AutoScalingGroupName=group, MaxSize=4, DesiredCapacity=4)
    assert len(aws.group_instances(group)) == 4
    aws.asg.set_desired_capacity(AutoScalingGroupName=group, DesiredCapacity=2)
    err = _error(lambda: aws.create_group("over", lt, 3, max_size=2))
    assert err["Message"] == "Desired capacity:3 must be between the specified min size:0 and max size:2"
    assert aws.asg.describe_auto_scaling_groups(AutoScalingGroupNames=[aws.name("over")])["AutoScalingGroups"] == []
    # Lowering MaxSize alone still shrinks the group, as on AWS.
    aws.asg.update_auto_scaling_group(AutoScalingGroupName=group, MaxSize=1, MinSize=0)
    assert aws.group(group)["DesiredCapacity"] == 1


# --------------------------------------------------------------------------
# (q) at most 5 values per DescribeAutoScalingGroups filter
# --------------------------------------------------------------------------
def _tag_filter(n: int, prefix: str = "c") -> list[dict]:
    return [{"Name": "tag:drydock:cluster", "Values": [f"{prefix}{i}" for i in range(n)]}]


def test_stock_asg_filter_takes_any_number_of_values(stock: Server) -> None:
    aws = Aws(stock)
    assert aws.asg.describe_auto_scaling_groups(Filters=_tag_filter(6))["AutoScalingGroups"] == []


def test_shim_asg_filter_takes_at_most_5_values(shim: Server) -> None:
    aws = Aws(shim)
    lt = aws.launch_template(aws.amis[0])
    group = aws.create_group("g", lt, 0, max_size=1)
    prefix = aws.name("cluster")
    aws.asg.create_or_update_tags(Tags=[{
        "ResourceId": group, "ResourceType": "auto-scaling-group", "Key": "drydock:cluster",
        "Value": f"{prefix}4", "PropagateAtLaunch": False,
    }])
    five = aws.asg.describe_auto_scaling_groups(Filters=_tag_filter(5, prefix))["AutoScalingGroups"]
    assert [g["AutoScalingGroupName"] for g in five] == [group]
    err = _error(lambda: aws.asg.describe_auto_scaling_groups(Filters=_tag_filter(6)))
    assert (err["Code"], err["Type"], err["Message"], err["status"]) == (
        "ValidationError", "Sender",
        "The request isn't valid. The number of values specified for the tag:drydock:cluster "
        "filter type exceeds the maximum of 5 tag:drydock:cluster.", 400,
    )


# --------------------------------------------------------------------------
# (r) at most MaxRecords (default 50, at most 100) names per DescribeAutoScalingGroups
# --------------------------------------------------------------------------
def _names(aws: Aws, n: int) -> list[str]:
    return [aws.name(f"none{i}") for i in range(n)]


def test_stock_asg_describe_takes_any_number_of_names(stock: Server) -> None:
    aws = Aws(stock)
    assert aws.asg.describe_auto_scaling_groups(AutoScalingGroupNames=_names(aws, 51))["AutoScalingGroups"] == []


def test_shim_asg_describe_takes_at_most_max_records_names(shim: Server) -> None:
    aws = Aws(shim)
    lt = aws.launch_template(aws.amis[0])
    group = aws.create_group("g", lt, 0, max_size=1)
    fifty = _names(aws, 49) + [group]
    got = aws.asg.describe_auto_scaling_groups(AutoScalingGroupNames=fifty)["AutoScalingGroups"]
    assert [g["AutoScalingGroupName"] for g in got] == [group]
    err = _error(lambda: aws.asg.describe_auto_scaling_groups(AutoScalingGroupNames=_names(aws, 51)))
    assert (err["Code"], err["Type"], err["Message"], err["status"]) == (
        "ValidationError", "Sender", "The number of group names that may be passed in is limited to 50.", 400,
    )
    # MaxRecords raises the limit, to 100 at most.
    hundred = _names(aws, 99) + [group]
    got = aws.asg.describe_auto_scaling_groups(AutoScalingGroupNames=hundred, MaxRecords=100)["AutoScalingGroups"]
    assert [g["AutoScalingGroupName"] for g in got] == [group]
    err = _error(lambda: aws.asg.describe_auto_scaling_groups(AutoScalingGroupNames=_names(aws, 61), MaxRecords=60))
    assert err["Message"] == "The number of group names that may be passed in is limited to 60."
