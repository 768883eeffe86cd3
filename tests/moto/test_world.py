"""The world clock (--time-scale and friends): AWS states that take AWS time.

These tests change the shared patched server's world through the control API
(the ``world`` fixture restores it) and poll with deadlines; the bounds they
assert follow from the clock: nothing can happen earlier than its AWS time
divided by the time scale.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time

import pytest

from shimtest import DEFAULT_UNHEALTHY, SCRIPT, Aws, Server, until

IN_PROGRESS = ("OutOfService", "ELB", "Instance registration is still in progress.")
DEREGISTERING = "Instance deregistration currently in progress."


def _health(aws: Aws, lb: str, iid: str) -> tuple[str, str, str]:
    s = aws.health(lb)[iid]
    return s["State"], s["ReasonCode"], s["Description"]


def _ec2_state(aws: Aws, iid: str) -> str:
    r = aws.ec2.describe_instances(InstanceIds=[iid])["Reservations"]
    return r[0]["Instances"][0]["State"]["Name"]


def _drydock_like_lb(aws: Aws, tag: str = "lb", draining: int | None = None) -> str:
    """An ELB set up as drydock does: checks every 10 s, 2 to pass, 3 to fail."""
    lb = aws.load_balancer(tag)
    aws.elb.configure_health_check(
        LoadBalancerName=lb,
        HealthCheck={
            "Target": "HTTP:8080/health",
            "Interval": 10,
            "Timeout": 5,
            "HealthyThreshold": 2,
            "UnhealthyThreshold": 3,
        },
    )
    if draining is not None:
        aws.elb.modify_load_balancer_attributes(
            LoadBalancerName=lb,
            LoadBalancerAttributes={"ConnectionDraining": {"Enabled": True, "Timeout": draining}},
        )
    return lb


def test_ready_line_world_flags_and_clean_exit(stock: Server) -> None:
    server = Server(
        "--time-scale", "100", "--boot", "45", "--launch", "5", "--stopping", "7",
        "--image-pending", "20", "--throttle", "--consistency-ms", "250",
    )
    try:
        assert re.fullmatch(r"READY [1-9]\d*\n", server.ready_line)
        assert 0 < server.port < 65536 and server.port != stock.port
        status, world = server.control("GET", "/drydock-shim/world")
        assert status == 200
        clock = world.pop("clock")
        assert isinstance(clock, float) and clock >= 0
        assert world == {
            "time_scale": 100.0, "boot": 45.0, "launch": 5.0, "stopping": 7.0,
            "image_pending": 20.0, "throttle": "aws", "consistency_ms": 250.0,
        }
        # The clock runs at the scale: 0.2 real s are ~20 AWS s.
        time.sleep(0.2)
        assert server.control("GET", "/drydock-shim/world")[1]["clock"] >= clock + 20
        # POST changes only what it names; GET /info shows the world too.
        world = server.set_world(time_scale=0, throttle="api", boot=1.5)
        assert world["time_scale"] == 0 and world["throttle"] == "api" and world["boot"] == 1.5
        frozen = world["clock"]
        time.sleep(0.05)
        assert server.control("GET", "/drydock-shim/world")[1]["clock"] == frozen
        assert server.control("GET", "/drydock-shim/info")[1]["world"]["throttle"] == "api"
        assert server.set_world(throttle=True)["throttle"] == "aws"
        assert server.set_world(throttle=False)["throttle"] is False
        for bad in ({"time_scale": -1}, {"boot": "90"}, {"nope": 1}, {"throttle": "x"},
                    {"consistency_ms": True}, {"launch": float("inf")}):
            status, err = server.control("POST", "/drydock-shim/world", bad)
            assert status == 400 and "error" in err, bad
        assert server.control("PUT", "/drydock-shim/world")[0] == 405
        assert server.control("GET", "/drydock-shim/world")[1]["boot"] == 1.5
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(10) == 0
        # Nothing but the READY line ever goes to stdout.
        assert server.proc.stdout is not None and server.proc.stdout.read() == b""
    finally:
        server.stop()
    # --stock: throttling works, time and consistency need the patches.
    assert stock.control("POST", "/drydock-shim/world", {"time_scale": 10})[0] == 400
    assert stock.control("POST", "/drydock-shim/world", {"consistency_ms": 10})[0] == 400
    assert stock.set_world(throttle=True)["throttle"] == "aws"
    assert stock.set_world(throttle=False)["throttle"] is False
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--stock", "--time-scale", "10"],
        capture_output=True, timeout=30,
    )
    assert out.returncode == 2 and out.stdout == b"" and b"--stock" in out.stderr


@pytest.mark.usefixtures("clean_unhealthy")
def test_world_instances_boot_then_pass_health_checks(world: Server) -> None:
    """--time-scale 100 --boot 90, checks every 10 s: a launch is Pending/pending for
    10 AWS s, OutOfService/ELB until 10 + 90 + 2*10 AWS s (1.2 real s) and InService
    from then on; an instance of an unhealthy AMI fails after 10 + 90 + 3*10 AWS s."""
    aws = Aws(world)
    lb = _drydock_like_lb(aws)
    blue_lt = aws.launch_template(aws.amis[0], "lt-blue")
    green_lt = aws.launch_template(aws.amis[1], "lt-green")
    assert world.control("POST", "/drydock-shim/unhealthy", {"amis": [aws.amis[1]]})[0] == 200
    world.set_world(time_scale=100, boot=90, launch=10)

    t0 = time.monotonic()
    blue = aws.create_group("blue", blue_lt, 1, [lb])
    green = aws.create_group("green", green_lt, 1, [lb])
    (b,), (g,) = aws.group_instances(blue), aws.group_instances(green)
    first = aws.group(blue)["Instances"][0]
    if time.monotonic() - t0 < 0.1:  # observed within the launch time (10 AWS s)
        assert first["LifecycleState"] == "Pending" and first["HealthStatus"] == "Healthy"
    assert _health(aws, lb, b) == IN_PROGRESS
    assert _health(aws, lb, g) == IN_PROGRESS

    until(lambda: aws.group(blue)["Instances"][0]["LifecycleState"] == "InService", 5, "blue InService in the group")
    until(lambda: _ec2_state(aws, b) == "running", 5, "blue running")
    seen: list[tuple[float, tuple[str, str, str], tuple[str, str, str]]] = []

    def both_settled() -> bool:
        hb, hg = _health(aws, lb, b), _health(aws, lb, g)
        seen.append((time.monotonic() - t0, hb, hg))
        return hb[0] == "InService" and hg[0] == "OutOfService" and hg[1] == "Instance"

    until(both_settled, 10, "blue InService and green failed", interval=0.02)
    # (Times are taken after each observation, so they bound it from above.)
    blue_up = next(t for t, hb, _ in seen if hb[0] == "InService")
    green_down = next(t for t, _, hg in seen if hg[0] == "OutOfService" and hg[1] == "Instance")
    assert blue_up >= 1.2, seen  # not before (10 + 90 + 2*10) / 100 real s
    assert green_down >= 1.3, seen  # not before (10 + 90 + 3*10) / 100 real s
    for _, hb, hg in seen:
        assert hb in (IN_PROGRESS, ("InService", "N/A", "N/A")), hb
        assert hg in (IN_PROGRESS, ("OutOfService", "Instance", DEFAULT_UNHEALTHY)), hg
    # Failed stays failed; healthy stays healthy.
    time.sleep(0.2)
    assert _health(aws, lb, g) == ("OutOfService", "Instance", DEFAULT_UNHEALTHY)
    assert _health(aws, lb, b) == ("InService", "N/A", "N/A")

    # A stop/start boots the service again: out of service until it has passed again.
    world.set_world(stopping=0)
    aws.ec2.stop_instances(InstanceIds=[b])
    assert _health(aws, lb, b) == ("OutOfService", "Instance", "Instance is in stopped state.")
    aws.ec2.start_instances(InstanceIds=[b])
    assert _health(aws, lb, b) == IN_PROGRESS
    # Back to the instant world: everything is settled at once.
    world.set_world(time_scale=0)
    assert _health(aws, lb, b) == ("InService", "N/A", "N/A")
    assert aws.group(blue)["Instances"][0]["LifecycleState"] == "InService"


def test_world_connection_draining(world: Server) -> None:
    aws = Aws(world)
    drains = _drydock_like_lb(aws, "drains", draining=30)
    plain = _drydock_like_lb(aws, "plain")
    lt = aws.launch_template(aws.amis[0])
    group = aws.create_group("g", lt, 2, [drains])  # launched in the instant world
    a, b = sorted(aws.group_instances(group))
    manual = aws.ec2.run_instances(ImageId=aws.amis[0], MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    for lb in (drains, plain):
        aws.elb.register_instances_with_load_balancer(LoadBalancerName=lb, Instances=[{"InstanceId": manual}])
    world.set_world(time_scale=100)  # 30 AWS s of draining = 0.3 real s

    t0 = time.monotonic()
    aws.asg.detach_instances(AutoScalingGroupName=group, InstanceIds=[a], ShouldDecrementDesiredCapacity=True)
    for lb in (drains, plain):
        aws.elb.deregister_instances_from_load_balancer(LoadBalancerName=lb, Instances=[{"InstanceId": manual}])
    # No draining configured: gone at once.
    assert manual not in aws.health(plain)
    # Draining: still listed, InService, "deregistration currently in progress".
    health = aws.health(drains)
    for iid in (a, manual):
        assert (health[iid]["State"], health[iid]["ReasonCode"], health[iid]["Description"]) == (
            "InService", "N/A", DEREGISTERING,
        )
    assert health[b]["State"] == "InService" and health[b]["Description"] == "N/A"
    assert set(aws.registered(drains)) == {b}  # no longer registered
    one = aws.elb.describe_instance_health(LoadBalancerName=drains, Instances=[{"InstanceId": a}])
    assert [(s["InstanceId"], s["Description"]) for s in one["InstanceStates"]] == [(a, DEREGISTERING)]

    until(lambda: set(aws.health(drains)) == {b}, 5, "draining over")
    assert time.monotonic() - t0 >= 0.3  # 30 AWS s at 100x
    # Registering again ends nothing early and starts a new registration.
    aws.elb.register_instances_with_load_balancer(LoadBalancerName=drains, Instances=[{"InstanceId": manual}])
    state = aws.health(drains)[manual]
    assert (state["State"], state["ReasonCode"]) == ("OutOfService", "ELB")


def test_world_instance_and_image_states(world: Server) -> None:
    aws = Aws(world)
    # 30 AWS s to launch or stop = 0.3 real s.  An observation that returned within
    # that time must show the transient state.
    world.set_world(time_scale=100, launch=30, stopping=30, image_pending=30)

    def within(t: float, window: float) -> bool:
        return time.monotonic() - t < window

    t0 = time.monotonic()
    iid = aws.ec2.run_instances(ImageId=aws.amis[0], MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    state = _ec2_state(aws, iid)
    if within(t0, 0.3):
        assert state == "pending"
    pending = aws.ec2.describe_instances(
        Filters=[{"Name": "instance-state-name", "Values": ["pending"]}]
    )["Reservations"]
    status = aws.ec2.describe_instance_status(InstanceIds=[iid])["InstanceStatuses"]
    if within(t0, 0.3):
        assert iid in [i["InstanceId"] for r in pending for i in r["Instances"]]
        assert status == []  # DescribeInstanceStatus lists running instances only
    until(lambda: _ec2_state(aws, iid) == "running", 5, "running")
    assert not within(t0, 0.3)

    t1 = time.monotonic()
    out = aws.ec2.stop_instances(InstanceIds=[iid])["StoppingInstances"][0]
    assert out["CurrentState"]["Name"] == "stopping" and out["PreviousState"]["Name"] == "running"
    state = _ec2_state(aws, iid)
    if within(t1, 0.3):
        assert state == "stopping"
    until(lambda: _ec2_state(aws, iid) == "stopped", 5, "stopped")
    assert not within(t1, 0.3)

    t2 = time.monotonic()
    image = aws.ec2.create_image(InstanceId=iid, Name=aws.name("world-image"))["ImageId"]

    def image_state() -> str:
        return aws.ec2.describe_images(ImageIds=[image])["Images"][0]["State"]

    state = image_state()
    if within(t2, 0.3):
        assert state == "pending"
    until(lambda: image_state() == "available", 5, "image available")
    assert not within(t2, 0.3)

    aws.ec2.start_instances(InstanceIds=[iid])
    world.set_world(time_scale=0)  # the instant world shows the final state at once
    assert _ec2_state(aws, iid) == "running"
    image2 = aws.ec2.create_image(InstanceId=iid, Name=aws.name("instant-image"))["ImageId"]
    assert aws.ec2.describe_images(ImageIds=[image2])["Images"][0]["State"] == "available"
