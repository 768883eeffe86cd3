"""Helpers of the moto shim's tests: servers started through the script, AWS clients
and fixtures.  Imported by conftest.py and the test modules (not a test module).
"""

from __future__ import annotations

import json
import os
import re
import selectors
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Callable, TypeVar

import boto3
from botocore.config import Config

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "drydock_moto.py"
REGION = "us-east-1"
DEFAULT_UNHEALTHY = (
    "Instance has failed at least the UnhealthyThreshold number of health checks "
    "consecutively."
)

# Dummy credentials; never let a developer's real AWS profile leak in.
for _var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
    os.environ.pop(_var, None)
os.environ["AWS_ACCESS_KEY_ID"] = "testing"
os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
os.environ["AWS_DEFAULT_REGION"] = REGION

T = TypeVar("T")


# --------------------------------------------------------------------------
# Server processes
# --------------------------------------------------------------------------
class Server:
    def __init__(self, *extra: str, startup_timeout: float = 30.0) -> None:
        self.stderr = tempfile.TemporaryFile()
        env = dict(os.environ)
        self.proc = subprocess.Popen(
            [sys.executable, str(SCRIPT), "--host", "127.0.0.1", "--port", "0", *extra],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            env=env,
        )
        self.ready_line = self._read_line(startup_timeout)
        m = re.fullmatch(r"READY (\d+)\n", self.ready_line)
        if not m:
            self.stop()
            raise AssertionError(
                f"bad READY line {self.ready_line!r}; stderr:\n{self.stderr_text()}"
            )
        self.port = int(m.group(1))
        self.url = f"http://127.0.0.1:{self.port}"

    def _read_line(self, timeout: float) -> str:
        assert self.proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        try:
            if not sel.select(timeout):
                self.stop()
                raise AssertionError(
                    f"no READY line within {timeout}s; stderr:\n{self.stderr_text()}"
                )
            return self.proc.stdout.readline().decode()
        finally:
            sel.close()

    def stderr_text(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        return self.proc.returncode

    # -- clients -----------------------------------------------------------
    def client(self, service: str, key: str = "testing", retry: bool = True) -> Any:
        """A boto3 client; ``key`` is its access key id (the recorder's ``key``);
        ``retry=False`` makes exactly one attempt per call."""
        retries = {"max_attempts": 1} if retry else {"total_max_attempts": 1, "mode": "standard"}
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=key,
            aws_secret_access_key="testing",
            config=Config(retries=retries),  # type: ignore[arg-type]
        )

    def control(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return e.code, json.loads(raw)
            except ValueError:
                return e.code, raw.decode(errors="replace")

    def set_world(self, **settings: Any) -> dict[str, Any]:
        status, world = self.control("POST", "/drydock-shim/world", settings)
        assert status == 200, world
        return world

    def raw_query(
        self, service: str, params: dict[str, str], key: str = "testing", agent: str | None = None
    ) -> tuple[int, str]:
        """POST a query-protocol request with a syntactically valid (unchecked) SigV4 header;
        ``agent`` as User-Agent (e.g. the Rust SDK's, to be recorded as drydock's)."""
        body = "&".join(f"{k}={urllib.request.quote(v, safe='')}" for k, v in params.items())
        req = urllib.request.Request(self.url + "/", data=body.encode(), method="POST")
        req.add_header("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
        if agent is not None:
            req.add_header("User-Agent", agent)
        req.add_header(
            "Authorization",
            f"AWS4-HMAC-SHA256 Credential={key}/20250101/"
            f"{REGION}/{service}/aws4_request, SignedHeaders=host, Signature=00",
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()


# --------------------------------------------------------------------------
# AWS fixtures: ELB, launch template, ASG in the default VPC
# --------------------------------------------------------------------------
_AMAZON_AMIS: list[str] = []


class Aws:
    def __init__(self, server: Server) -> None:
        self.server = server
        self.ec2 = server.client("ec2")
        self.asg = server.client("autoscaling")
        self.elb = server.client("elb")
        self.suffix = uuid.uuid4().hex[:8]
        self.subnets = [
            s["SubnetId"]
            for s in self.ec2.describe_subnets(
                Filters=[{"Name": "default-for-az", "Values": ["true"]}]
            )["Subnets"]
        ]
        assert self.subnets, "moto's default VPC should have default subnets"
        # moto's default AMIs are the same on every server; listing them takes ~1 s.
        if not _AMAZON_AMIS:
            images = self.ec2.describe_images(Owners=["amazon"])["Images"]
            _AMAZON_AMIS.extend(sorted(i["ImageId"] for i in images))
        self.amis = list(_AMAZON_AMIS)
        assert len(self.amis) >= 2, "moto ships a default set of AMIs"

    def name(self, prefix: str) -> str:
        return f"{prefix}-{self.suffix}"

    def launch_template(self, ami: str, tag: str = "lt") -> str:
        return self.ec2.create_launch_template(
            LaunchTemplateName=self.name(tag),
            LaunchTemplateData={"ImageId": ami, "InstanceType": "t3.micro"},
        )["LaunchTemplate"]["LaunchTemplateId"]

    def load_balancer(self, tag: str = "lb") -> str:
        name = self.name(tag)
        self.elb.create_load_balancer(
            LoadBalancerName=name,
            Listeners=[{"Protocol": "HTTP", "LoadBalancerPort": 80, "InstancePort": 8080}],
            Subnets=self.subnets[:2],
        )
        return name

    def create_group(
        self, tag: str, lt_id: str, size: int, elbs: list[str] | None = None, max_size: int = 10
    ) -> str:
        name = self.name(tag)
        self.asg.create_auto_scaling_group(**self.group_params(name, lt_id, size, elbs, max_size))
        return name

    def group_params(
        self, name: str, lt_id: str, size: int, elbs: list[str] | None, max_size: int = 10
    ) -> dict[str, Any]:
        params: dict[str, Any] = {
            "AutoScalingGroupName": name,
            "LaunchTemplate": {"LaunchTemplateId": lt_id, "Version": "$Latest"},
            "MinSize": 0,
            "MaxSize": max_size,
            "DesiredCapacity": size,
            "VPCZoneIdentifier": ",".join(self.subnets),
            "HealthCheckType": "ELB",
            "HealthCheckGracePeriod": 60,
        }
        if elbs:
            params["LoadBalancerNames"] = elbs
        return params

    def group(self, name: str) -> dict[str, Any]:
        groups = self.asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])[
            "AutoScalingGroups"
        ]
        assert len(groups) == 1
        return groups[0]

    def group_instances(self, name: str) -> set[str]:
        return {i["InstanceId"] for i in self.group(name)["Instances"]}

    def registered(self, elb_name: str) -> list[str]:
        desc = self.elb.describe_load_balancers(LoadBalancerNames=[elb_name])[
            "LoadBalancerDescriptions"
        ][0]
        return [i["InstanceId"] for i in desc["Instances"]]

    def health(self, elb_name: str) -> dict[str, dict[str, str]]:
        states = self.elb.describe_instance_health(LoadBalancerName=elb_name)["InstanceStates"]
        return {s["InstanceId"]: s for s in states}




def no_retry_client(server: Server, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=server.url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
    )


def in_thread(call: Any) -> tuple[threading.Thread, dict[str, Any]]:
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = call()
        except Exception as e:  # noqa: BLE001 - the test inspects it
            outcome["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, outcome


def wait_held(server: Server, n: int, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status, state = server.control("GET", "/drydock-shim/hold")
        assert status == 200
        if state["held"] >= n:
            return state
        assert time.monotonic() < deadline, f"not {n} held within {timeout}s: {state}"
        time.sleep(0.01)




def until(check: Callable[[], T], timeout: float, what: str, interval: float = 0.05) -> T:
    """Polls ``check`` until it returns a truthy value; fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what}: not within {timeout}s (last: {value!r})"
        time.sleep(interval)
