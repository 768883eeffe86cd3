"""Request throttling (token buckets), injected faults and the per-client stats."""

from __future__ import annotations

import re
import time

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError

from shimtest import Aws, Server

EC2_THROTTLED = re.compile(
    r'^<\?xml version="1.0" encoding="UTF-8"\?>\n<Response><Errors><Error>'
    r"<Code>RequestLimitExceeded</Code><Message>Request limit exceeded\.</Message>"
    r"</Error></Errors><RequestID>[0-9a-f-]{36}</RequestID></Response>$"
)
QUERY_THROTTLED = re.compile(
    r'^<\?xml version="1.0" encoding="UTF-8"\?>\n<ErrorResponse xmlns="http://[a-z]+\.amazonaws\.com/doc/[0-9-]+/">'
    r"<Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error>"
    r"<RequestId>[0-9a-f-]{36}</RequestId></ErrorResponse>$"
)
RUN = {"Action": "RunInstances", "Version": "2016-11-15", "MinCount": "1", "MaxCount": "1"}


def _recorded(server: Server) -> list[dict]:
    return server.control("GET", "/drydock-shim/requests")[1]


def test_throttle_ec2_buckets_on_the_scaled_clock(world: Server) -> None:
    aws = Aws(world)
    # A crawling clock (0.001 AWS s per real s): the buckets do not refill meanwhile.
    world.set_world(time_scale=0.001, throttle=True)
    world.control("DELETE", "/drydock-shim/requests")
    run = {**RUN, "ImageId": aws.amis[0]}
    answers = [world.raw_query("ec2", run, key="AKIDRUN") for _ in range(6)]
    assert [status for status, _ in answers] == [200] * 5 + [503]  # RunInstances: burst 5
    assert EC2_THROTTLED.match(answers[5][1]), answers[5][1]
    # Other EC2 families have their own buckets.
    assert world.raw_query("ec2", {"Action": "DescribeRegions", "Version": "2016-11-15"})[0] == 200
    recorded = _recorded(world)
    assert [(r["status"], r["throttled"], r["fault"]) for r in recorded[:6]] == (
        [(200, False, None)] * 5 + [(503, True, None)]
    )
    assert {r["key"] for r in recorded[:6]} == {"AKIDRUN"}
    # boto3 sees EC2's error code, HTTP 503.
    with pytest.raises(ClientError) as e:
        world.client("ec2", retry=False).run_instances(ImageId=aws.amis[0], MinCount=1, MaxCount=1)
    assert e.value.response["Error"]["Code"] == "RequestLimitExceeded"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    # 2 tokens per AWS second: at 1000x, 0.01 real s refill the burst.
    world.set_world(time_scale=1000)
    time.sleep(0.01)
    assert [world.raw_query("ec2", run)[0] for _ in range(5)] == [200] * 5
    # EC2 mutating actions: burst 50.
    world.set_world(time_scale=0.001, throttle=True)  # full buckets again
    statuses = [
        world.raw_query("ec2", {"Action": "DeleteKeyPair", "Version": "2016-11-15", "KeyName": "k"})[0]
        for _ in range(51)
    ]
    assert statuses == [200] * 50 + [503]
    # Each EC2 action on its own bucket (EC2's documentation): another mutating action
    # is not throttled by it; with "family" it is.
    delete_tags = {"Action": "DeleteTags", "Version": "2016-11-15", "ResourceId.1": "i-00000000"}
    assert world.raw_query("ec2", delete_tags)[0] != 503
    world.set_world(throttle="family")
    for _ in range(50):
        world.raw_query("ec2", {"Action": "DeleteKeyPair", "Version": "2016-11-15", "KeyName": "k"})
    assert world.raw_query("ec2", delete_tags)[0] == 503


def test_throttle_autoscaling_and_elb_query_errors(world: Server) -> None:
    world.set_world(time_scale=0.001, throttle="family")
    describe_groups = {"Action": "DescribeAutoScalingGroups", "Version": "2011-01-01"}
    describe_lbs = {"Action": "DescribeLoadBalancers", "Version": "2012-06-01"}
    asg = [world.raw_query("autoscaling", describe_groups) for _ in range(41)]
    assert [s for s, _ in asg] == [200] * 40 + [400]  # estimate: burst 40
    assert QUERY_THROTTLED.match(asg[40][1]), asg[40][1]
    assert "autoscaling.amazonaws.com/doc/2011-01-01/" in asg[40][1]
    # Reads and writes share the service's bucket; the ELB bucket is separate.
    assert world.raw_query("autoscaling", {"Action": "DeleteTags", "Version": "2011-01-01"})[0] == 400
    elb = [world.raw_query("elasticloadbalancing", describe_lbs) for _ in range(41)]
    assert [s for s, _ in elb] == [200] * 40 + [400]
    assert "elasticloadbalancing.amazonaws.com/doc/2012-06-01/" in elb[40][1]
    # Classic ELB's non-mutating actions have their own bucket (its documentation): a
    # write is not throttled by the empty read bucket.
    add_tags = {"Action": "AddTags", "Version": "2012-06-01", "LoadBalancerNames.member.1": "none",
                "Tags.member.1.Key": "k", "Tags.member.1.Value": "v"}
    _, body = world.raw_query("elasticloadbalancing", add_tags)
    assert not QUERY_THROTTLED.match(body), body
    assert "LoadBalancerNotFound" in body  # processed: moto looked for the ELB
    with pytest.raises(ClientError) as e:
        world.client("elb", retry=False).describe_load_balancers()
    assert e.value.response["Error"]["Code"] == "Throttling"
    assert e.value.response["Error"]["Type"] == "Sender"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    # "api" buckets: one per action, with the family's size.
    world.set_world(throttle="api")
    assert [world.raw_query("autoscaling", describe_groups)[0] for _ in range(40)] == [200] * 40
    other = {"Action": "DescribeAutoScalingInstances", "Version": "2011-01-01"}
    assert world.raw_query("autoscaling", other)[0] == 200
    # Off: never throttled.
    world.set_world(throttle=False)
    assert world.raw_query("autoscaling", describe_groups)[0] == 200


def test_stats_per_client(world: Server) -> None:
    aws = Aws(world)
    world.set_world(time_scale=0.001, throttle=True)
    world.control("DELETE", "/drydock-shim/requests")
    one = world.client("ec2", key="AKIDPROCESS1", retry=False)
    two = world.client("ec2", key="AKIDPROCESS2", retry=False)
    throttled = 0
    for i in range(6):
        try:
            (one if i % 2 == 0 else two).run_instances(ImageId=aws.amis[0], MinCount=1, MaxCount=1)
        except ClientError:
            throttled += 1
    two.describe_regions()
    assert throttled == 1
    status, stats = world.control("GET", "/drydock-shim/stats")
    assert status == 200 and stats["by"] == "key"
    assert stats["total"] == {"requests": 7, "throttled": 1, "faults": 0, "errors": 1}
    p2 = stats["clients"]["AKIDPROCESS2"]
    assert (p2["requests"], p2["throttled"], p2["errors"]) == (4, 1, 1)
    assert p2["actions"]["RunInstances"] == {"requests": 3, "throttled": 1, "faults": 0, "errors": 1}
    assert p2["actions"]["DescribeRegions"]["requests"] == 1
    assert stats["clients"]["AKIDPROCESS1"]["throttled"] == 0
    by_client = world.control("GET", "/drydock-shim/stats?by=client")[1]
    assert set(by_client["clients"]) == {"boto3"} and by_client["clients"]["boto3"]["requests"] == 7
    assert world.control("GET", "/drydock-shim/stats?by=nope")[0] == 400
    assert world.control("DELETE", "/drydock-shim/stats")[0] == 405


def test_faults_answer_each_services_errors_without_processing(world: Server) -> None:
    aws = Aws(world)
    rules = [
        {"actions": ["CreateLaunchTemplate"], "kind": "500", "count": 1},
        {"services": ["autoscaling"], "kind": "503", "count": 1},
        {"services": ["elasticloadbalancing"], "kind": "throttle", "count": 1},
    ]
    status, faults = world.control("POST", "/drydock-shim/faults", {"rules": rules, "seed": 1})
    assert status == 200 and faults["seed"] == 1 and faults["injected"] == 0
    world.control("DELETE", "/drydock-shim/requests")
    ec2 = world.client("ec2", retry=False)
    name = aws.name("faulted")
    with pytest.raises(ClientError) as e:
        ec2.create_launch_template(LaunchTemplateName=name, LaunchTemplateData={"ImageId": aws.amis[0]})
    assert e.value.response["Error"]["Code"] == "InternalError"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    found = ec2.describe_launch_templates(Filters=[{"Name": "launch-template-name", "Values": [name]}])
    assert found["LaunchTemplates"] == []  # not processed
    status, body = world.raw_query("autoscaling", {"Action": "DescribeAutoScalingGroups", "Version": "2011-01-01"})
    assert status == 503 and "<Type>Receiver</Type><Code>ServiceUnavailable</Code>" in body
    with pytest.raises(ClientError) as e:
        world.client("elb", retry=False).describe_load_balancers()
    assert e.value.response["Error"]["Code"] == "Throttling"
    # count reached: the same calls go through now.
    ec2.create_launch_template(LaunchTemplateName=name, LaunchTemplateData={"ImageId": aws.amis[0]})
    world.client("autoscaling", retry=False).describe_auto_scaling_groups()
    faults = world.control("GET", "/drydock-shim/faults")[1]
    assert [r["injected"] for r in faults["rules"]] == [1, 1, 1] and faults["injected"] == 3
    recorded = [(r["action"], r["status"], r["throttled"], r["fault"]) for r in _recorded(world)]
    assert ("CreateLaunchTemplate", 500, False, "500") in recorded
    assert ("DescribeAutoScalingGroups", 503, False, "503") in recorded
    assert ("DescribeLoadBalancers", 400, True, "throttle") in recorded
    assert ("CreateLaunchTemplate", 200, False, None) in recorded
    assert world.control("DELETE", "/drydock-shim/faults")[1] == {"seed": None, "rules": [], "injected": 0}


def test_faults_seeded_rate_replays_and_client_filter(world: Server) -> None:
    def pattern(seed: int) -> list[int]:
        rule = {"actions": ["DescribeRegions"], "rate": 0.5, "kind": "503"}
        world.control("POST", "/drydock-shim/faults", {"rules": [rule], "seed": seed})
        return [
            world.raw_query("ec2", {"Action": "DescribeRegions", "Version": "2016-11-15"})[0]
            for _ in range(24)
        ]

    first = pattern(42)
    assert set(first) == {200, 503}
    assert pattern(42) == first  # replayable
    assert pattern(43) != first
    # No seed: one is picked and reported, so that the run can be replayed.
    world.control("POST", "/drydock-shim/faults", {"rules": []})
    assert isinstance(world.control("GET", "/drydock-shim/faults")[1]["seed"], int)
    # clients: only requests from that access key (or client kind) are hit.
    world.control("POST", "/drydock-shim/faults", {"rules": [{"clients": ["AKIDVICTIM"], "kind": "500"}]})
    regions = {"Action": "DescribeRegions", "Version": "2016-11-15"}
    assert world.raw_query("ec2", regions, key="AKIDOTHER")[0] == 200
    assert world.raw_query("ec2", regions, key="AKIDVICTIM")[0] == 500
    for bad in (
        {"rules": [{"kind": "explode"}]},
        {"rules": [{"kind": "delay"}]},
        {"rules": [{"kind": "500", "rate": 2}]},
        {"rules": [{"kind": "500", "count": -1}]},
        {"rules": [{"kind": "500", "actions": "RunInstances"}]},
        {"rules": [{"kind": "500", "bogus": 1}]},
        {"rules": {}},
        {"rules": [], "seed": "x"},
    ):
        assert world.control("POST", "/drydock-shim/faults", bad)[0] == 400, bad


def test_fault_drop_processes_the_write_and_closes_the_connection(world: Server) -> None:
    aws = Aws(world)
    world.control("POST", "/drydock-shim/faults", {
        "rules": [{"actions": ["CreateLaunchTemplate"], "kind": "drop", "count": 1}],
    })
    world.control("DELETE", "/drydock-shim/requests")
    ec2 = world.client("ec2", retry=False)
    name = aws.name("dropped")
    with pytest.raises((ConnectionClosedError, EndpointConnectionError)):
        ec2.create_launch_template(LaunchTemplateName=name, LaunchTemplateData={"ImageId": aws.amis[0]})
    found = ec2.describe_launch_templates(Filters=[{"Name": "launch-template-name", "Values": [name]}])
    assert [t["LaunchTemplateName"] for t in found["LaunchTemplates"]] == [name]  # the write happened
    first = _recorded(world)[0]
    assert (first["action"], first["status"], first["fault"]) == ("CreateLaunchTemplate", None, "drop")
    # The server is fine afterwards.
    assert world.raw_query("ec2", {"Action": "DescribeRegions", "Version": "2016-11-15"})[0] == 200


def test_fault_delay(world: Server) -> None:
    world.control("POST", "/drydock-shim/faults", {
        "rules": [{"actions": ["DescribeRegions"], "kind": "delay", "delay_ms": 300, "count": 1}],
    })
    world.control("DELETE", "/drydock-shim/requests")
    t0 = time.monotonic()
    status, _ = world.raw_query("ec2", {"Action": "DescribeRegions", "Version": "2016-11-15"})
    assert status == 200 and time.monotonic() - t0 >= 0.3
    first = _recorded(world)[0]
    assert (first["status"], first["fault"], first["throttled"]) == (200, "delay", False)
