"""Tests of the moto fidelity shim (tests/moto/drydock_moto.py).

Every fidelity patch has two tests:
  * ``test_stock_*`` asserts moto 5.2.5's *wrong* behaviour on an unpatched
    (``--stock``) server, so that a moto upgrade that fixes it fails here and
    tells us the patch is obsolete;
  * ``test_shim_*`` asserts the AWS behaviour on the patched server.

Both servers are started through the script itself, as subprocesses, once per
session.  Run with:  .venv/bin/python -m pytest tests/moto -q
"""

from __future__ import annotations

import re
import signal
import time
import urllib.request
import uuid
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from shimtest import (
    DEFAULT_UNHEALTHY,
    REGION,
    Aws,
    Server,
    in_thread,
    no_retry_client,
    wait_held,
)

# --------------------------------------------------------------------------
# Startup / shutdown
# --------------------------------------------------------------------------
def test_info_lists_the_patches_and_an_instant_world(shim: Server) -> None:
    # (The READY line, port 0, world flags and a clean SIGTERM exit: test_world.py.)
    status, info = shim.control("GET", "/drydock-shim/info")
    assert status == 200
    assert info["stock"] is False and info["moto"] == "5.2.5"
    assert set(info["patches"]) == {
        "asg-elb-registration",
        "asg-already-exists",
        "elb-instance-health",
        "shared-amis",
        "snapshot-create-volume-permission",
        "launch-template-tags",
        "client-token-idempotency",
        "image-name-duplicate",
        "asg-size-limits",
        "asg-filter-value-limit",
        "asg-names-limit",
        "image-tag-specifications",
        "asg-lifecycle-hook-specifications",
        "asg-scaling-names-per-group",
        "asg-delete-cascade",
        "asg-enable-all-metrics",
        "scheduled-action-next-run",
        "rpc-v2-cbor",
        "speed-ec2-tags-by-id",
        "speed-module-list-cached",
    }
    # The world is instant unless a flag or POST /drydock-shim/world says otherwise.
    assert info["world"]["time_scale"] == 0 and info["world"]["throttle"] is False
    assert info["world"]["consistency_ms"] == 0


def test_sigint_exits_cleanly_and_stock_info(stock: Server) -> None:
    server = Server("--stock")
    try:
        status, info = server.control("GET", "/drydock-shim/info")
        assert status == 200 and info["stock"] is True and info["patches"] == []
        assert server.port != stock.port
    finally:
        assert server.stop(signal.SIGINT) == 0


# --------------------------------------------------------------------------
# (a) two Auto Scaling groups attached to one classic ELB
# --------------------------------------------------------------------------
def test_stock_second_asg_deregisters_first_asgs_instances(stock: Server) -> None:
    aws = Aws(stock)
    lb = aws.load_balancer()
    lt = aws.launch_template(aws.amis[0])
    blue = aws.create_group("blue", lt, 2, [lb])
    blue_ids = aws.group_instances(blue)
    assert set(aws.registered(lb)) == blue_ids

    green = aws.create_group("green", lt, 2, [lb])
    green_ids = aws.group_instances(green)
    # moto 5.2.5 bug: the ELB now holds only green's instances.
    assert set(aws.registered(lb)) == green_ids
    assert not blue_ids & set(aws.registered(lb))

    # ...and scaling blue steals the ELB back from green.
    aws.asg.set_desired_capacity(AutoScalingGroupName=blue, DesiredCapacity=3)
    assert set(aws.registered(lb)) == aws.group_instances(blue)


def test_stock_detach_load_balancers_detaches_from_every_elb(stock: Server) -> None:
    aws = Aws(stock)
    lb1, lb2 = aws.load_balancer("lb1"), aws.load_balancer("lb2")
    lt = aws.launch_template(aws.amis[0])
    group = aws.create_group("g", lt, 2, [lb1, lb2])
    ids = aws.group_instances(group)
    assert set(aws.registered(lb1)) == ids and set(aws.registered(lb2)) == ids
    aws.asg.detach_load_balancers(AutoScalingGroupName=group, LoadBalancerNames=[lb1])
    # moto 5.2.5 bug: detaching lb1 also deregistered the group from lb2.
    assert aws.registered(lb1) == []
    assert aws.registered(lb2) == []


def test_shim_asgs_register_only_their_own_instances(shim: Server) -> None:
    aws = Aws(shim)
    lb = aws.load_balancer()
    lt = aws.launch_template(aws.amis[0])

    blue = aws.create_group("blue", lt, 2, [lb])
    blue_ids = aws.group_instances(blue)
    assert len(blue_ids) == 2
    assert set(aws.registered(lb)) == blue_ids

    green = aws.create_group("green", lt, 2, [lb])
    green_ids = aws.group_instances(green)
    assert len(green_ids) == 2 and not blue_ids & green_ids
    registered = aws.registered(lb)
    assert len(registered) == 4 and set(registered) == blue_ids | green_ids

    # DescribeInstanceHealth covers instances registered through the ASGs.
    health = aws.health(lb)
    assert set(health) == blue_ids | green_ids
    assert {s["State"] for s in health.values()} == {"InService"}

    # Scaling green up registers only green's new instance.
    aws.asg.set_desired_capacity(AutoScalingGroupName=green, DesiredCapacity=3)
    green_ids = aws.group_instances(green)
    assert len(green_ids) == 3
    assert set(aws.registered(lb)) == blue_ids | green_ids

    # UpdateAutoScalingGroup scaling green down deregisters only green's instance.
    aws.asg.update_auto_scaling_group(AutoScalingGroupName=green, DesiredCapacity=1)
    green_ids = aws.group_instances(green)
    assert len(green_ids) == 1
    assert set(aws.registered(lb)) == blue_ids | green_ids
    assert aws.group_instances(blue) == blue_ids

    # Replacing a terminated blue instance swaps only that one.
    victim = sorted(blue_ids)[0]
    aws.asg.terminate_instance_in_auto_scaling_group(
        InstanceId=victim, ShouldDecrementDesiredCapacity=False
    )
    new_blue_ids = aws.group_instances(blue)
    assert len(new_blue_ids) == 2 and victim not in new_blue_ids
    assert set(aws.registered(lb)) == new_blue_ids | green_ids
    blue_ids = new_blue_ids

    # DetachLoadBalancers on blue deregisters only blue's instances.
    aws.asg.detach_load_balancers(AutoScalingGroupName=blue, LoadBalancerNames=[lb])
    assert set(aws.registered(lb)) == green_ids
    assert aws.asg.describe_load_balancers(AutoScalingGroupName=blue)["LoadBalancers"] == []

    # A detached group's scaling no longer touches the ELB.
    aws.asg.set_desired_capacity(AutoScalingGroupName=blue, DesiredCapacity=3)
    assert set(aws.registered(lb)) == green_ids

    # AttachLoadBalancers registers only blue's instances, green stays.
    aws.asg.attach_load_balancers(AutoScalingGroupName=blue, LoadBalancerNames=[lb])
    blue_ids = aws.group_instances(blue)
    assert len(blue_ids) == 3
    assert set(aws.registered(lb)) == blue_ids | green_ids

    # Deleting green (scale to 0 + delete) removes only green's instances.
    aws.asg.update_auto_scaling_group(AutoScalingGroupName=green, MinSize=0, DesiredCapacity=0)
    aws.asg.delete_auto_scaling_group(AutoScalingGroupName=green)
    assert set(aws.registered(lb)) == blue_ids


def test_shim_detach_load_balancers_only_named_elbs(shim: Server) -> None:
    aws = Aws(shim)
    lb1, lb2 = aws.load_balancer("lb1"), aws.load_balancer("lb2")
    lt = aws.launch_template(aws.amis[0])
    group = aws.create_group("g", lt, 2, [lb1, lb2])
    ids = aws.group_instances(group)
    # A hand-registered instance must survive the group's detach.
    manual = aws.ec2.run_instances(
        ImageId=aws.amis[0], MinCount=1, MaxCount=1, SubnetId=aws.subnets[0]
    )["Instances"][0]["InstanceId"]
    aws.elb.register_instances_with_load_balancer(
        LoadBalancerName=lb1, Instances=[{"InstanceId": manual}]
    )
    aws.asg.detach_load_balancers(AutoScalingGroupName=group, LoadBalancerNames=[lb1])
    assert aws.registered(lb1) == [manual]
    assert set(aws.registered(lb2)) == ids


# --------------------------------------------------------------------------
# (b) CreateAutoScalingGroup with an existing name
# --------------------------------------------------------------------------
def test_stock_create_existing_asg_silently_replaces(stock: Server) -> None:
    aws = Aws(stock)
    lt = aws.launch_template(aws.amis[0])
    name = aws.create_group("dup", lt, 1, max_size=2)
    first_ids = aws.group_instances(name)
    # moto 5.2.5: no error, the group is replaced.
    aws.asg.create_auto_scaling_group(**aws.group_params(name, lt, 2, None, max_size=5))
    group = aws.group(name)
    assert group["MaxSize"] == 5
    assert len(group["Instances"]) == 2 and not first_ids & aws.group_instances(name)


def test_shim_create_existing_asg_already_exists(shim: Server) -> None:
    aws = Aws(shim)
    lt = aws.launch_template(aws.amis[0])
    name = aws.create_group("dup", lt, 1, max_size=2)
    first_ids = aws.group_instances(name)
    with pytest.raises(ClientError) as excinfo:
        aws.asg.create_auto_scaling_group(**aws.group_params(name, lt, 2, None, max_size=5))
    err = excinfo.value.response
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert err["Error"]["Code"] == "AlreadyExists"
    assert err["Error"]["Type"] == "Sender"
    assert err["Error"]["Message"] == (
        f"AutoScalingGroup by this name already exists - A group with the name {name} "
        "already exists"
    )
    # Modelled error class, like the Rust SDK's AlreadyExistsFault.
    assert isinstance(excinfo.value, aws.asg.exceptions.AlreadyExistsFault)
    group = aws.group(name)
    assert group["MaxSize"] == 2 and aws.group_instances(name) == first_ids


def test_shim_already_exists_raw_query_xml(shim: Server) -> None:
    aws = Aws(shim)
    lt = aws.launch_template(aws.amis[0])
    name = aws.create_group("dupraw", lt, 0)
    status, body = shim.raw_query(
        "autoscaling",
        {
            "Action": "CreateAutoScalingGroup",
            "Version": "2011-01-01",
            "AutoScalingGroupName": name,
            "LaunchTemplate.LaunchTemplateId": lt,
            "MinSize": "0",
            "MaxSize": "1",
            "VPCZoneIdentifier": aws.subnets[0],
        },
    )
    assert status == 400
    compact = re.sub(r">\s+<", "><", body)
    assert "<ErrorResponse" in compact
    assert "<Error><Type>Sender</Type><Code>AlreadyExists</Code><Message>" in compact
    assert f"A group with the name {name} already exists</Message>" in compact
    assert "<RequestId>" in compact


# --------------------------------------------------------------------------
# (c) classic ELB instance health
# --------------------------------------------------------------------------
def test_stock_instance_health_always_in_service(stock: Server) -> None:
    aws = Aws(stock)
    lb = aws.load_balancer()
    lt = aws.launch_template(aws.amis[0])
    group = aws.create_group("g", lt, 2, [lb])
    ids = sorted(aws.group_instances(group))
    # No way to make a running instance unhealthy on stock moto.
    status, _ = stock.control("POST", "/drydock-shim/unhealthy", {"amis": [aws.amis[0]]})
    assert status == 404
    health = aws.health(lb)
    assert {s["State"] for s in health.values()} == {"InService"}
    # A stopped instance is OutOfService, but with no reason/description.
    aws.ec2.stop_instances(InstanceIds=[ids[0]])
    health = aws.health(lb)
    assert health[ids[0]]["State"] == "OutOfService"
    assert health[ids[0]]["ReasonCode"] == "N/A"
    assert health[ids[0]]["Description"] == "N/A"
    assert health[ids[1]]["State"] == "InService"


@pytest.mark.usefixtures("clean_unhealthy")
def test_shim_unhealthy_by_ami(shim: Server) -> None:
    aws = Aws(shim)
    lb = aws.load_balancer()
    old = aws.create_group("old", aws.launch_template(aws.amis[0], "lt-old"), 2, [lb])
    new = aws.create_group("new", aws.launch_template(aws.amis[1], "lt-new"), 2, [lb])
    old_ids, new_ids = aws.group_instances(old), aws.group_instances(new)

    status, state = shim.control("POST", "/drydock-shim/unhealthy", {"amis": [aws.amis[1]]})
    assert status == 200 and state["amis"] == {aws.amis[1]: DEFAULT_UNHEALTHY}
    health = aws.health(lb)
    assert set(health) == old_ids | new_ids
    for iid in new_ids:
        assert health[iid]["State"] == "OutOfService"
        assert health[iid]["ReasonCode"] == "Instance"
        assert health[iid]["Description"] == DEFAULT_UNHEALTHY
    for iid in old_ids:
        assert health[iid] == {
            "InstanceId": iid,
            "State": "InService",
            "ReasonCode": "N/A",
            "Description": "N/A",
        }
    # Instances launched later from the AMI are unhealthy too.
    aws.asg.set_desired_capacity(AutoScalingGroupName=new, DesiredCapacity=3)
    added = aws.group_instances(new) - new_ids
    assert len(added) == 1
    assert aws.health(lb)[added.pop()]["State"] == "OutOfService"
    # Filtering by instance works as well.
    one = sorted(new_ids)[0]
    states = aws.elb.describe_instance_health(
        LoadBalancerName=lb, Instances=[{"InstanceId": one}]
    )["InstanceStates"]
    assert [(s["InstanceId"], s["State"]) for s in states] == [(one, "OutOfService")]

    status, state = shim.control("DELETE", "/drydock-shim/unhealthy")
    assert status == 200 and state == {"amis": {}, "instances": {}}
    assert {s["State"] for s in aws.health(lb).values()} == {"InService"}


@pytest.mark.usefixtures("clean_unhealthy")
def test_shim_unhealthy_by_instance_and_stopped(shim: Server) -> None:
    aws = Aws(shim)
    lb = aws.load_balancer()
    group = aws.create_group("g", aws.launch_template(aws.amis[0]), 3, [lb])
    a, b, c = sorted(aws.group_instances(group))
    status, _ = shim.control(
        "POST",
        "/drydock-shim/unhealthy",
        {"instances": [a], "description": "Instance has failed at least the custom check."},
    )
    assert status == 200
    aws.ec2.stop_instances(InstanceIds=[b])
    health = aws.health(lb)
    assert health[a]["State"] == "OutOfService"
    assert health[a]["ReasonCode"] == "Instance"
    assert health[a]["Description"] == "Instance has failed at least the custom check."
    assert health[b]["State"] == "OutOfService"
    assert health[b]["ReasonCode"] == "Instance"
    assert health[b]["Description"] == "Instance is in stopped state."
    assert health[c]["State"] == "InService"
    # Posting is additive; a bad body is rejected.
    status, state = shim.control("POST", "/drydock-shim/unhealthy", {"amis": ["ami-12345678"]})
    assert status == 200 and set(state["instances"]) == {a} and set(state["amis"]) == {"ami-12345678"}
    status, _ = shim.control("POST", "/drydock-shim/unhealthy", {"amis": "ami-12345678"})
    assert status == 400


# --------------------------------------------------------------------------
# (d) request recorder (active on both servers)
# --------------------------------------------------------------------------
@pytest.mark.parametrize("which", ["stock", "shim"])
def test_recorder_counts_and_clears(which: str, request: pytest.FixtureRequest) -> None:
    server: Server = request.getfixturevalue(which)
    aws = Aws(server)  # makes a few describe calls before we clear
    status, cleared = server.control("DELETE", "/drydock-shim/requests")
    assert status == 200 and "cleared" in cleared
    before = time.time()
    for _ in range(2):
        aws.ec2.run_instances(ImageId=aws.amis[0], MinCount=1, MaxCount=1)
    aws.asg.describe_auto_scaling_groups()
    aws.elb.describe_load_balancers()
    after = time.time()

    status, recorded = server.control("GET", "/drydock-shim/requests")
    assert status == 200
    assert [(r["service"], r["action"]) for r in recorded] == [
        ("ec2", "RunInstances"),
        ("ec2", "RunInstances"),
        ("autoscaling", "DescribeAutoScalingGroups"),
        ("elasticloadbalancing", "DescribeLoadBalancers"),
    ]
    for r in recorded:
        assert set(r) == {"service", "action", "name", "t", "client", "key", "status", "throttled", "fault"}
        assert r["client"] == "boto3" and r["key"] == "testing"
        assert r["status"] == 200 and r["throttled"] is False and r["fault"] is None
        assert isinstance(r["t"], float) and before - 1 <= r["t"] <= after + 1
    # What each request acts on: the image RunInstances launches from, none for the lists.
    assert [r["name"] for r in recorded] == [aws.amis[0], aws.amis[0], None, None]

    status, _ = server.control("DELETE", "/drydock-shim/requests")
    assert status == 200
    assert server.control("GET", "/drydock-shim/requests") == (200, [])


def test_recorder_raw_query_and_unknown_endpoint(shim: Server) -> None:
    shim.control("DELETE", "/drydock-shim/requests")
    status, body = shim.raw_query("ec2", {"Action": "DescribeRegions", "Version": "2016-11-15"})
    assert status == 200 and "DescribeRegionsResponse" in body
    assert shim.control("GET", "/drydock-shim/nope")[0] == 404
    assert shim.control("POST", "/drydock-shim/requests")[0] == 405
    recorded = shim.control("GET", "/drydock-shim/requests")[1]
    assert [(r["service"], r["action"]) for r in recorded] == [("ec2", "DescribeRegions")]


def test_recorder_keeps_drydocks_params_and_the_tags_of_what_it_names(shim: Server) -> None:
    """For the IAM policy test: a drydock request's parameters, and each resource it
    names with its tags as they were *before* the request."""
    ec2 = shim.client("ec2")
    base = ec2.describe_images(Owners=["099720109477"])["Images"][0]["ImageId"]
    inst = ec2.run_instances(ImageId=base, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    ec2.create_tags(Resources=[inst], Tags=[{"Key": "drydock:role", "Value": "builder"}])
    shim.control("DELETE", "/drydock-shim/requests")
    rust = "aws-sdk-rust/1.3 os/linux lang/rust/1.90"
    status, _ = shim.raw_query(
        "ec2",
        {"Action": "CreateTags", "Version": "2016-11-15", "ResourceId.1": inst,
         "Tag.1.Key": "drydock:role", "Tag.1.Value": "other"},
        agent=rust,
    )
    assert status == 200
    shim.raw_query("ec2", {"Action": "DescribeRegions", "Version": "2016-11-15"})  # not drydock's
    recorded = shim.control("GET", "/drydock-shim/requests")[1]
    assert [r["client"] for r in recorded] == ["drydock", "other"]
    mine = recorded[0]
    assert mine["region"] == REGION and mine["account"] == "123456789012"
    assert mine["params"]["ResourceId.1"] == inst and mine["params"]["Tag.1.Value"] == "other"
    assert mine["resources"] == [
        {"kind": "ec2", "ref": inst, "id": inst, "tags": {"drydock:role": "builder"}}
    ], "the tags before the request"
    assert "params" not in recorded[1] and "resources" not in recorded[1]


# --------------------------------------------------------------------------
# (e) hold: fault injection for crash tests (active on both servers)
# --------------------------------------------------------------------------
@pytest.mark.usefixtures("no_hold")
def test_hold_blocks_then_refuses_without_processing(shim: Server) -> None:
    aws = Aws(shim)
    ec2 = no_retry_client(shim, "ec2")
    assert shim.control("GET", "/drydock-shim/hold") == (
        200,
        {"action": None, "after": None, "armed": False, "held": 0},
    )
    status, state = shim.control("POST", "/drydock-shim/hold", {"action": "CreateLaunchTemplate"})
    assert status == 200 and state == {
        "action": "CreateLaunchTemplate",
        "after": None,
        "armed": True,
        "held": 0,
    }
    shim.control("DELETE", "/drydock-shim/requests")
    name = aws.name("held")
    thread, outcome = in_thread(
        lambda: ec2.create_launch_template(
            LaunchTemplateName=name,
            LaunchTemplateData={"ImageId": aws.amis[0], "InstanceType": "t3.micro"},
        )
    )
    assert wait_held(shim, 1)["held"] == 1
    assert thread.is_alive() and not outcome
    # Other requests go through meanwhile; the held one is recorded but not processed.
    found = aws.ec2.describe_launch_templates(
        Filters=[{"Name": "launch-template-name", "Values": [name]}]
    )["LaunchTemplates"]
    assert found == []
    recorded = [r["action"] for r in shim.control("GET", "/drydock-shim/requests")[1]]
    assert recorded[0] == "CreateLaunchTemplate"

    status, state = shim.control("DELETE", "/drydock-shim/hold")
    assert status == 200 and state["released"] == 1 and state["action"] is None
    thread.join(10)
    assert not thread.is_alive()
    err = outcome.get("error")
    assert isinstance(err, ClientError), outcome
    assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert err.response["Error"]["Code"] == "ServiceUnavailable"
    found = aws.ec2.describe_launch_templates(
        Filters=[{"Name": "launch-template-name", "Values": [name]}]
    )["LaunchTemplates"]
    assert found == [], "a held request is never processed"

    # After the release the same request is processed normally.
    ec2.create_launch_template(
        LaunchTemplateName=name,
        LaunchTemplateData={"ImageId": aws.amis[0], "InstanceType": "t3.micro"},
    )
    found = aws.ec2.describe_launch_templates(
        Filters=[{"Name": "launch-template-name", "Values": [name]}]
    )["LaunchTemplates"]
    assert [t["LaunchTemplateName"] for t in found] == [name]


@pytest.mark.usefixtures("no_hold")
def test_hold_after_arms_on_another_action(shim: Server) -> None:
    aws = Aws(shim)
    lb = aws.load_balancer()
    asg = no_retry_client(shim, "autoscaling")
    status, state = shim.control(
        "POST",
        "/drydock-shim/hold",
        {"action": "DescribeAutoScalingGroups", "after": "CreateAutoScalingGroup"},
    )
    assert status == 200 and state["armed"] is False
    # Before the arming action: not held.
    asg.describe_auto_scaling_groups()
    lt = aws.launch_template(aws.amis[0])
    group = aws.create_group("armed", lt, 1, [lb])  # arms the hold, and is processed
    assert shim.control("GET", "/drydock-shim/hold")[1]["armed"] is True
    # ELB calls are not held.
    assert len(aws.health(lb)) == 1
    thread, outcome = in_thread(
        lambda: asg.describe_auto_scaling_groups(AutoScalingGroupNames=[group])
    )
    wait_held(shim, 1)
    shim.control("DELETE", "/drydock-shim/hold")
    thread.join(10)
    assert isinstance(outcome.get("error"), ClientError), outcome
    assert outcome["error"].response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert len(aws.group_instances(group)) == 1


@pytest.mark.usefixtures("no_hold")
def test_hold_bad_bodies(shim: Server) -> None:
    for body in ({}, {"action": ""}, {"action": 3}, {"action": "X", "after": ["Y"]}):
        status, _ = shim.control("POST", "/drydock-shim/hold", body)
        assert status == 400, body
    assert shim.control("PUT", "/drydock-shim/hold")[0] == 405
    assert shim.control("GET", "/drydock-shim/hold")[1]["action"] is None


# --------------------------------------------------------------------------
# /moto-api/reset clears the shim's state too
# --------------------------------------------------------------------------
def test_moto_reset_clears_shim_state() -> None:
    server = Server()
    try:
        aws = Aws(server)
        lb = aws.load_balancer()
        assert server.control("POST", "/drydock-shim/unhealthy", {"instances": ["i-1"]})[0] == 200
        assert server.control("GET", "/drydock-shim/requests")[1]
        assert server.control("POST", "/drydock-shim/hold", {"action": "DescribeRegions"})[0] == 200
        thread, outcome = in_thread(no_retry_client(server, "ec2").describe_regions)
        wait_held(server, 1)

        req = urllib.request.Request(server.url + "/moto-api/reset", data=b"", method="POST")
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 200
        thread.join(10)
        assert isinstance(outcome.get("error"), ClientError), outcome
        assert server.control("GET", "/drydock-shim/hold")[1] == {
            "action": None,
            "after": None,
            "armed": False,
            "held": 0,
        }

        assert server.control("GET", "/drydock-shim/requests") == (200, [])
        assert server.control("GET", "/drydock-shim/unhealthy") == (
            200,
            {"amis": {}, "instances": {}},
        )
        assert aws.elb.describe_load_balancers()["LoadBalancerDescriptions"] == []
        del lb

        # Patch (a) still works after the backends were rebuilt.
        aws = Aws(server)
        lb = aws.load_balancer()
        lt = aws.launch_template(aws.amis[0])
        g1 = aws.create_group("g1", lt, 1, [lb])
        g2 = aws.create_group("g2", lt, 1, [lb])
        assert set(aws.registered(lb)) == aws.group_instances(g1) | aws.group_instances(g2)
    finally:
        assert server.stop() == 0


# --------------------------------------------------------------------------
# (d) shared AMIs and (e) snapshot create-volume permission: cross-account promote
# --------------------------------------------------------------------------
def _other_account(server: Server) -> Any:
    """An EC2 client of account 222222222222 (AssumeRole credentials, as moto maps them)."""
    sts = server.client("sts")
    creds = sts.assume_role(RoleArn="arn:aws:iam::222222222222:role/drydock", RoleSessionName="drydock-test")["Credentials"]
    return boto3.client(
        "ec2",
        endpoint_url=server.url,
        region_name=REGION,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        config=Config(retries={"max_attempts": 1}),
    )


def _shared_image(server: Server) -> tuple[str, str]:
    """An AMI of the default account, shared with 222222222222; (ami, snapshot)."""
    ec2 = server.client("ec2")
    base = ec2.describe_images(Owners=["099720109477"])["Images"][0]["ImageId"]
    inst = ec2.run_instances(ImageId=base, MinCount=1, MaxCount=1, InstanceType="t3.micro")["Instances"][0]["InstanceId"]
    ami = ec2.create_image(InstanceId=inst, Name=f"shared-{inst}")["ImageId"]
    ec2.create_tags(Resources=[ami], Tags=[{"Key": "drydock:service", "Value": "www"}])
    ec2.modify_image_attribute(ImageId=ami, LaunchPermission={"Add": [{"UserId": "222222222222"}]})
    snap = ec2.describe_images(ImageIds=[ami])["Images"][0]["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    ec2.modify_snapshot_attribute(SnapshotId=snap, CreateVolumePermission={"Add": [{"UserId": "222222222222"}]})
    return ami, snap


def test_stock_shared_ami_is_invisible_to_the_grantee(stock: Server) -> None:
    ami, _ = _shared_image(stock)
    other = _other_account(stock)
    with pytest.raises(ClientError) as e:
        other.describe_images(ImageIds=[ami])
    assert e.value.response["Error"]["Code"] == "InvalidAMIID.NotFound"


def test_shim_shared_ami_is_visible_to_the_grantee_without_tags(shim: Server) -> None:
    ami, _ = _shared_image(shim)
    other = _other_account(shim)
    found = other.describe_images(ImageIds=[ami])["Images"]
    assert [i["ImageId"] for i in found] == [ami]
    assert not found[0].get("Tags"), "the owner's tags are not visible to another account"
    assert ami in [i["ImageId"] for i in other.describe_images(ExecutableUsers=["self"])["Images"]]


def test_stock_structured_create_volume_permission_is_ignored(stock: Server) -> None:
    _, snap = _shared_image(stock)
    perms = stock.client("ec2").describe_snapshot_attribute(SnapshotId=snap, Attribute="createVolumePermission")
    assert perms.get("CreateVolumePermissions", []) == []


def test_shim_structured_create_volume_permission_is_applied(shim: Server) -> None:
    _, snap = _shared_image(shim)
    perms = shim.client("ec2").describe_snapshot_attribute(SnapshotId=snap, Attribute="createVolumePermission")
    assert {"UserId": "222222222222"} in perms["CreateVolumePermissions"]


# --------------------------------------------------------------------------
# (f) image-tag-specifications: snapshot tags in CreateImage, tags in CopyImage
# --------------------------------------------------------------------------
SPECS = [
    {"ResourceType": "image", "Tags": [{"Key": "drydock:service", "Value": "www"}]},
    {"ResourceType": "snapshot", "Tags": [{"Key": "drydock:service", "Value": "www"}]},
]


def _stopped_instance(server: Server) -> str:
    ec2 = server.client("ec2")
    base = ec2.describe_images(Owners=["099720109477"])["Images"][0]["ImageId"]
    return ec2.run_instances(ImageId=base, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]


def _tags(ec2: Any, resource: str) -> dict[str, str]:
    found = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [resource]}])["Tags"]
    return {t["Key"]: t["Value"] for t in found}


def _snapshot(ec2: Any, ami: str) -> str:
    return ec2.describe_images(ImageIds=[ami])["Images"][0]["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]


def test_stock_create_image_fails_on_a_snapshot_tag_specification(stock: Server) -> None:
    ec2 = no_retry_client(stock, "ec2")
    # HTTP 500 with an HTML body, which botocore cannot even parse.
    from botocore.parsers import ResponseParserError

    with pytest.raises(ResponseParserError) as e:
        ec2.create_image(InstanceId=_stopped_instance(stock), Name=f"i-{uuid.uuid4()}", TagSpecifications=SPECS)
    assert "500 Internal Server Error" in str(e.value)


def test_shim_create_image_tags_the_image_and_its_snapshots(shim: Server) -> None:
    ec2 = shim.client("ec2")
    ami = ec2.create_image(InstanceId=_stopped_instance(shim), Name=f"i-{uuid.uuid4()}", TagSpecifications=SPECS)["ImageId"]
    assert _tags(ec2, ami) == {"drydock:service": "www"}
    assert _tags(ec2, _snapshot(ec2, ami)) == {"drydock:service": "www"}


def test_stock_copy_image_ignores_tag_specifications(stock: Server) -> None:
    ec2 = stock.client("ec2")
    ami = ec2.create_image(InstanceId=_stopped_instance(stock), Name=f"i-{uuid.uuid4()}")["ImageId"]
    copy = ec2.copy_image(SourceImageId=ami, SourceRegion=REGION, Name=f"c-{uuid.uuid4()}", TagSpecifications=SPECS)["ImageId"]
    assert _tags(ec2, copy) == {}


def test_shim_copy_image_tags_the_copy_and_its_snapshots(shim: Server) -> None:
    ec2 = shim.client("ec2")
    ami = ec2.create_image(InstanceId=_stopped_instance(shim), Name=f"i-{uuid.uuid4()}")["ImageId"]
    copy = ec2.copy_image(SourceImageId=ami, SourceRegion=REGION, Name=f"c-{uuid.uuid4()}", TagSpecifications=SPECS)["ImageId"]
    assert _tags(ec2, copy) == {"drydock:service": "www"}
    assert _tags(ec2, _snapshot(ec2, copy)) == {"drydock:service": "www"}
