"""The real guest: drydock bakes an AMI on a real Debian 12 machine and deploys it.

Run it through `make test-guest` (tests/guest/run.sh): as root, inside a network namespace
of its own, with the base root filesystem built. The world, all on this namespace's
127.0.0.1:

- a registry (Debian's docker-registry, TLS with a throwaway CA) holding the image
  registry.guest.test/drydock/hello (tests/guest/image.py);
- the AWS emulator (tests/moto, whose GetConsoleOutput shows the real consoles:
  tests/guest/moto_console.py);
- the guest driver (tests/guest/driver.py), which boots every instance of the emulator
  with systemd-nspawn from its AMI's disk, cloud-init running its user data;
- EC2's metadata service (IMDSv2, the instance role's credentials) and the regional
  endpoints of SSM and Secrets Manager over TLS (tests/guest/metadata.py), for the init
  job's AWS CLI;
- drydock itself, `bake` and `deploy` as a user runs them, with tests/guest/tree.

The tests run in order and build on each other: bake, look at the AMI's disk, deploy it,
the instance serves with the release's settings and secrets (read on the guest, nowhere
on a disk, in AWS's records or in drydock's output), survives a crash of its container,
its unit verifies, a secret it cannot read keeps it from starting; a bake whose
bootstrap fails runs on a second machine beside the first bake, and the last test checks
how it was reported.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)

from driver import Driver  # noqa: E402
from metadata import FRONT_ADDR, FRONT_NAMES, AwsFront, Imds  # noqa: E402

REGISTRY_HOST = "registry.guest.test"
REPO = "drydock/hello"
TAG = "1.0.0"
MISSING_TAG = "9.9.9-not-pushed"
BASE_AMI = "ami-785db401"
TREE = os.path.join(HERE, "tree")
HOST_PORT = 8080
TIMINGS: dict[str, float] = {}
# The release's secrets (tests/guest/tree/environments/guest.toml references them): values
# new with every run, so that a search of the disks and outputs for them means something.
PROFILE = "drydock-guest-hello"
ROLE = "drydock-guest-hello-role"
SSM_NAME = "/drydock/guest/hello/db-password"
# What a password holds: blanks, quotes, $, #, =, a backslash, a non-ASCII letter. Each must
# reach the container byte for byte (no shell, JSON or env-file expansion on the way).
# The searches look for each value's random part, which survives JSON's escaping.
SSM_MARK = "ssm-" + secrets.token_hex(12)
SSM_VALUE = SSM_MARK + " a b  $HOME 'q' \"dq\" #h =e \\n ü"
SM_NAME = "drydock/guest/hello"
SM_MARK = "sm-" + secrets.token_hex(12)
SM_VALUE = SM_MARK + ' x"y $(id) `id` é'
SECRET_MARKS = (SSM_MARK, SM_MARK)


def fail_loudly(why: str) -> None:
    pytest.fail(f"the real guest cannot run here: {why}. Run it as root with `make test-guest`.", pytrace=False)


class World:
    def __init__(self) -> None:
        if os.geteuid() != 0:
            fail_loudly("not root (systemd-nspawn, network namespaces and docker need root)")
        self.netns = os.environ.get("GUEST_NETNS")
        self.rootfs = os.environ.get("GUEST_ROOTFS")
        self.work = os.environ.get("GUEST_WORK")
        if not (self.netns and self.rootfs and self.work):
            fail_loudly("GUEST_NETNS, GUEST_ROOTFS and GUEST_WORK are not set (tests/guest/run.sh sets them)")
        for tool in ("systemd-nspawn", "docker-registry", "openssl", "nsenter"):
            if shutil.which(tool) is None:
                fail_loudly(f"{tool} is not installed (tests/guest/setup.sh installs it)")
        self.drydock_bin = os.environ.get("DRYDOCK_BIN", os.path.join(ROOT, "target/debug/drydock"))
        if not os.access(self.drydock_bin, os.X_OK):
            fail_loudly(f"{self.drydock_bin} is not built")
        self.procs: list[subprocess.Popen] = []
        self.outputs: list[str] = []  # everything drydock printed, searched for the secrets
        self.log_file = open(os.path.join(self.work, "guest.log"), "a", buffering=1)
        self.t0 = time.monotonic()

    def log(self, msg: str) -> None:
        self.log_file.write(f"{time.monotonic() - self.t0:8.1f} {msg}\n")

    # -- registry ------------------------------------------------------------------------
    def start_registry(self) -> None:
        d = os.path.join(self.work, "registry")
        os.makedirs(d, exist_ok=True)
        self.ca = os.path.join(d, "ca.crt")

        def ssl(*args: str) -> None:
            subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d)

        ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
            "-subj", "/CN=drydock guest test CA", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        ssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "registry.key", "-out", "registry.csr",
            "-subj", f"/CN={REGISTRY_HOST}")
        with open(os.path.join(d, "san.ext"), "w") as f:
            f.write(f"subjectAltName=DNS:{REGISTRY_HOST},IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
        ssl("x509", "-req", "-in", "registry.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "registry.crt", "-days", "2", "-extfile", "san.ext")
        # AWS's regional endpoints of the guests (tests/guest/metadata.py, AwsFront).
        ssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "aws.key", "-out", "aws.csr",
            "-subj", f"/CN={FRONT_NAMES[0]}")
        with open(os.path.join(d, "aws.ext"), "w") as f:
            f.write("subjectAltName=" + ",".join(f"DNS:{n}" for n in FRONT_NAMES) + "\nextendedKeyUsage=serverAuth\n")
        ssl("x509", "-req", "-in", "aws.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "aws.crt", "-days", "2", "-extfile", "aws.ext")
        self.aws_cert = (os.path.join(d, "aws.crt"), os.path.join(d, "aws.key"))
        cfg = os.path.join(d, "config.yml")
        with open(cfg, "w") as f:
            f.write(
                "version: 0.1\nlog:\n  level: warn\n"
                f"storage:\n  filesystem:\n    rootdirectory: {d}/data\n"
                "http:\n  addr: 127.0.0.1:443\n"
                f"  tls:\n    certificate: {d}/registry.crt\n    key: {d}/registry.key\n"
            )
        log = open(os.path.join(d, "registry.log"), "w")
        self.procs.append(subprocess.Popen(["docker-registry", "serve", cfg], stdout=log, stderr=log))
        import ssl as ssl_mod

        ctx = ssl_mod.create_default_context(cafile=self.ca)
        for _ in range(100):
            try:
                urllib.request.urlopen("https://127.0.0.1/v2/", context=ctx, timeout=2).close()
                break
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.1)
        else:
            raise RuntimeError("the registry did not answer on 127.0.0.1:443")
        out = subprocess.run(
            [sys.executable, os.path.join(HERE, "image.py"), "--registry", "https://127.0.0.1", "--ca", self.ca,
             "--repo", REPO, TAG],
            check=True, capture_output=True, text=True,
        )
        self.log(f"pushed {REGISTRY_HOST}/{REPO}:{TAG} ({out.stdout.strip()})")

    # -- emulator and driver -----------------------------------------------------------------
    def start_emulator(self) -> None:
        self.console_dir = os.path.join(self.work, "console")
        p = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "moto_console.py"), "--console-dir", self.console_dir,
             "--host", "127.0.0.1", "--port", "0"],
            stdout=subprocess.PIPE, stderr=open(os.path.join(self.work, "moto.log"), "w"), text=True,
        )
        self.procs.append(p)
        line = p.stdout.readline()
        if not line.startswith("READY "):
            raise RuntimeError(f"the emulator did not start: {line!r}")
        self.endpoint = f"http://127.0.0.1:{int(line.split()[1])}"
        self.driver = Driver(
            endpoint=self.endpoint, work=self.work, base_rootfs=self.rootfs, base_amis={BASE_AMI},
            registry_host=REGISTRY_HOST, ca_file=self.ca, console_dir=self.console_dir, log=self.log,
            aws_hosts=(FRONT_ADDR, FRONT_NAMES),
        )
        self.imds = Imds(self.driver, self.endpoint, self.log)
        self.imds.start()
        self.front = AwsFront(self.endpoint, *self.aws_cert, self.log)
        self.front.start()
        self.driver.start()

    def aws(self, service: str):
        import boto3

        return boto3.client(service, endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def put_secrets(self) -> None:
        """What an operator does before the first deploy: the secrets, and the instances'
        role and profile with the policy that `drydock iam-policy --instance` prints."""
        self.aws("ssm").put_parameter(Name=SSM_NAME, Value=SSM_VALUE, Type="SecureString")
        self.aws("secretsmanager").create_secret(
            Name=SM_NAME, SecretString=json.dumps({"api_token": SM_VALUE, "unused": "not-this-one"}))
        policy = subprocess.run(
            [self.drydock_bin, "-C", TREE, "iam-policy", "--instance", "hello", "--env", "guest"],
            env=self.drydock_env(), capture_output=True, text=True, check=True).stdout
        self.outputs.append(policy)
        iam = self.aws("iam")
        trust = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
        iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(trust))
        iam.put_role_policy(RoleName=ROLE, PolicyName="drydock-instance", PolicyDocument=policy)
        iam.create_instance_profile(InstanceProfileName=PROFILE)
        iam.add_role_to_instance_profile(InstanceProfileName=PROFILE, RoleName=ROLE)

    def control(self, method: str, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.endpoint + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.load(r)

    def drydock_env(self) -> dict[str, str]:
        return {
            **os.environ,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
            "DRYDOCK_POLL_INTERVAL": "500ms",
            "NO_COLOR": "1",
        }

    def cmd(self, *args: str) -> list[str]:
        return [self.drydock_bin, "-C", TREE, "--endpoint-url", self.endpoint, "--output", "json", *args]

    def drydock(self, *args: str, timeout: float) -> tuple[subprocess.CompletedProcess, float]:
        t = time.monotonic()
        try:
            r = subprocess.run(self.cmd(*args), env=self.drydock_env(), capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            pytest.fail(f"drydock {' '.join(args)} did not finish within {timeout:.0f} s\n"
                        f"stderr so far:\n{e.stderr}\nguests: {self.driver.summary()}")
        dt = time.monotonic() - t
        self.outputs += [r.stdout, r.stderr]
        self.log(f"drydock {' '.join(args)}: exit {r.returncode} in {dt:.1f} s\n{r.stderr}")
        return r, dt

    def close(self) -> None:
        if hasattr(self, "driver"):
            self.driver.close()
        for name in ("imds", "front"):
            if hasattr(self, name):
                getattr(self, name).close()
        for p in reversed(self.procs):
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        with open(os.path.join(self.work, "timings.json"), "w") as f:
            json.dump(TIMINGS, f, indent=1)
        self.log_file.close()


@pytest.fixture(scope="module")
def world():
    w = World()
    try:
        t = time.monotonic()
        w.start_registry()
        w.start_emulator()
        w.put_secrets()
        TIMINGS["world_setup_s"] = round(time.monotonic() - t, 1)
        yield w
    finally:
        w.close()


def http_get(path: str, timeout: float = 2) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{HOST_PORT}{path}", timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, ""
    except (urllib.error.URLError, ConnectionError, OSError):
        return 0, ""


def result(r: subprocess.CompletedProcess) -> dict:
    try:
        return json.loads(r.stdout)["results"][0]
    except (ValueError, KeyError, IndexError):
        raise AssertionError(f"no JSON result (exit {r.returncode}):\n{r.stdout}\n{r.stderr}")


def parse_env(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


# ---- the tests, in order ------------------------------------------------------------------

def test_bake_on_a_real_builder(world):
    # The failing bake (last test) runs on a second builder meanwhile: two machines at once.
    started = time.monotonic()
    failing = subprocess.Popen(
        world.cmd("bake", "hello", "--image-tag", MISSING_TAG, "--env", "guest"),
        env=world.drydock_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    world.failing = {"proc": failing, "started": started}

    def collect() -> None:
        world.failing["out"], world.failing["err"] = failing.communicate()
        world.failing["elapsed"] = time.monotonic() - started

    world.failing["thread"] = threading.Thread(target=collect, daemon=True)
    world.failing["thread"].start()
    r, dt = world.drydock("bake", "hello", "--image-tag", TAG, "--env", "guest", timeout=300)
    builders = [g for g in world.driver.guests.values()
                if g.role == "builder" and g.tags.get("drydock:image", "").endswith(f":{TAG}")]
    console = builders[-1].console_text() if builders else ""
    assert r.returncode == 0, f"bake failed:\n{r.stderr}\nconsole:\n{console[-4000:]}"
    res = result(r)
    assert res["outcome"] == "baked", res
    world.ami = res["ami"]
    assert "drydock-bake: OK" in console, console[-4000:]
    TIMINGS["bake_s"] = round(dt, 1)
    TIMINGS["builder_boot_to_poweroff_s"] = round(builders[-1].ended - builders[-1].started, 1)


def test_the_ami_holds_the_enabled_unit_and_the_image(world):
    needs(world, "ami", "baked AMI")
    disk = world.driver.wait(lambda: world.driver.amis.get(world.ami), 30, f"the disk of {world.ami}")
    unit = os.path.join(disk, "etc/systemd/system/drydock-hello.service")
    assert os.path.isfile(unit)
    wants = os.path.join(disk, "etc/systemd/system/multi-user.target.wants/drydock-hello.service")
    assert os.path.islink(wants) and os.readlink(wants) == "/etc/systemd/system/drydock-hello.service"
    with open(os.path.join(disk, "var/lib/docker/image/overlay2/repositories.json")) as f:
        repos = json.load(f)["Repositories"]
    assert f"{REGISTRY_HOST}/{REPO}:{TAG}" in repos.get(f"{REGISTRY_HOST}/{REPO}", {}), repos
    with open(os.path.join(disk, "etc/drydock/hello.env")) as f:
        assert "HELLO_GREETING=baked-hello" in f.read().splitlines()
    # Nothing of one instance's life: the release's settings come with each instance, and
    # the seal (after cloud-init had finished) left none of the builder's cloud-init state.
    assert not os.path.exists(os.path.join(disk, "etc/drydock/runtime.env"))
    cloud = os.path.join(disk, "var/lib/cloud")
    left = [p for p in ("instance", "instances", "data", "sem") if os.path.lexists(os.path.join(cloud, p))]
    assert left == [], f"cloud-init state of the builder in the AMI: {left}"
    assert not os.path.exists(os.path.join(disk, "var/log/cloud-init.log"))
    assert not os.path.exists(os.path.join(disk, "etc/systemd/system/drydock-seal.service"))


def needs(world, attr: str, what: str):
    if not hasattr(world, attr):
        pytest.fail(f"no {what}: an earlier test failed", pytrace=False)
    return getattr(world, attr)


def test_deploy_the_ami_and_it_serves(world):
    needs(world, "ami", "baked AMI")
    # The emulator's ELB reports the release healthy only once the real guest answers its
    # health check, so the deploy waits for the machine, as it does on AWS.
    world.control("POST", "/drydock-shim/unhealthy", {
        "amis": [world.ami], "description": "the real guest has not answered its health check yet"})
    healthy = threading.Event()
    timing: dict[str, float] = {}

    def watch() -> None:
        g = world.driver.wait(
            lambda: next((g for g in world.driver.guests.values() if g.image == world.ami), None), 120,
            "an instance of the AMI")
        world.driver.wait(lambda: g.state == "running", 120, f"{g.iid} to boot")
        while http_get("/health")[0] != 200:
            time.sleep(0.1)
            if g.state != "running":
                return
        timing["boot_to_health_s"] = time.monotonic() - g.started
        world.control("DELETE", "/drydock-shim/unhealthy")
        world.instance = g
        healthy.set()

    threading.Thread(target=watch, daemon=True).start()
    r, dt = world.drydock("deploy", "hello", "--env", "guest", "--image-tag", TAG, timeout=240)
    assert r.returncode == 0, f"deploy failed:\n{r.stderr}\nguests: {world.driver.summary()}"
    assert result(r)["outcome"] == "deployed"
    assert healthy.is_set()
    TIMINGS["deploy_s"] = round(dt, 1)
    TIMINGS["instance_boot_to_health_s"] = round(timing["boot_to_health_s"], 1)
    status, body = http_get("/env")
    assert status == 200
    env = parse_env(body)
    # The baked settings and the release's (from the launch template's user data) reach
    # the container; for a name in both, the release's value wins, once.
    assert env.get("HELLO_GREETING") == "baked-hello", body
    assert env.get("DRYDOCK_ENV") == "guest", body
    assert env.get("DRYDOCK_RELEASE") == "v001", body
    assert env.get("DRYDOCK_IMAGE") == f"{REGISTRY_HOST}/{REPO}:{TAG}", body
    assert body.count("DRYDOCK_ENV=") == 1, body
    # The merged file is root's only, on tmpfs (/run), not on the disk.
    g = world.instance
    assert world.driver.exec(g, "stat", "-c", "%a %U", "/run/drydock/hello.env").stdout.split() == ["600", "root"]


def test_the_container_sees_the_release_settings_and_secrets(world):
    # The deploy above: one setting, an SSM SecureString and a Secrets Manager secret's
    # JSON key, declared in environments/guest.toml. The instance's init job read the two
    # secrets at the start of the service with the AWS CLI, the instance role's
    # credentials from IMDSv2 and the regional endpoints, and the container has them.
    g = needs(world, "instance", "serving instance")
    status, body = http_get("/env")
    assert status == 200
    env = parse_env(body)
    assert env.get("HELLO_SETTING") == "from-the-environment", body
    assert env.get("DB_PASSWORD") == SSM_VALUE, body
    assert env.get("API_TOKEN") == SM_VALUE, body
    # Through the instance's own metadata, the IMDSv2 way (a token first), for its role.
    calls = [(path, st) for iid, path, st in world.imds.requests if iid == g.iid]
    assert (f"/latest/meta-data/iam/security-credentials/{ROLE}", 200) in calls, calls
    r = world.driver.exec(g, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                          "http://169.254.169.254/latest/meta-data/iam/security-credentials/", check=False)
    assert r.stdout == "401", f"the metadata service answers without a token: {r.stdout}"
    assert world.front.connections >= 2, "the AWS CLI did not reach SSM and Secrets Manager over TLS"
    # The instance holds the references, never a value.
    refs = world.driver.exec(g, "cat", "/etc/drydock/secrets.ref").stdout
    assert f"DB_PASSWORD=ssm:{SSM_NAME}" in refs.splitlines(), refs
    assert f"API_TOKEN=secretsmanager:{SM_NAME}#api_token" in refs.splitlines(), refs


def test_the_secrets_are_on_tmpfs_only(world):
    g = needs(world, "instance", "serving instance")
    f = "/run/drydock/hello.env"
    assert world.driver.exec(g, "stat", "-c", "%a %U %G", f).stdout.split() == ["600", "root", "root"]
    assert world.driver.exec(g, "stat", "-f", "-c", "%T", f).stdout.strip() == "tmpfs"
    resolved = world.driver.exec(g, "cat", f).stdout.splitlines()
    assert f"DB_PASSWORD={SSM_VALUE}" in resolved and f"API_TOKEN={SM_VALUE}" in resolved

    def holding(where: str) -> list[str]:
        """The files under `where` (a disk, seen from this host) that hold a secret (its random part)."""
        hits = []
        for v in SECRET_MARKS:
            r = subprocess.run(["grep", "-rlF", "-D", "skip", "--", v, where], capture_output=True, text=True)
            assert r.returncode in (0, 1), r.stderr
            hits += r.stdout.split()
        return sorted(set(hits))

    # The AMI's disk (what the builder left, sealed): no value, and no reference either
    # (the release's settings come with each instance).
    ami_disk = world.driver.amis[world.ami]
    assert holding(ami_disk) == []
    assert not os.path.lexists(os.path.join(ami_disk, "etc/drydock/secrets.ref"))
    # The instance's own disk (its root volume, deleted with the instance): the values are
    # where any `docker run` with an environment puts them, and nowhere else (not in the
    # journal, cloud-init's copy of the user data or drydock's files): Docker's and
    # containerd's records of the running container (its config.v2.json; the task's OCI
    # spec in containerd's metadata database), and the test app's own copy of its
    # environment in its container layer (image.py serves /env from /www/env).
    on_disk = holding(g.disk)
    docker_record = re.compile(re.escape(g.disk) + r"/var/lib/docker/containers/[0-9a-f]{64}/config\.v2\.json")
    containerd_record = os.path.join(g.disk, "var/lib/containerd/io.containerd.metadata.v1.bolt/meta.db")
    app_copy = re.compile(re.escape(g.disk) + r"/var/lib/docker/overlay2/[0-9a-f]{64}/diff/www/env")
    unexpected = [p for p in on_disk
                  if not (docker_record.fullmatch(p) or p == containerd_record or app_copy.fullmatch(p))]
    assert unexpected == [], on_disk
    assert any(docker_record.fullmatch(p) for p in on_disk), on_disk  # the search does find them
    world.log(f"secrets on the instance's disk: {on_disk}")
    # Everything of the release that AWS keeps and shows: the launch templates (user data
    # included), the tags of instances, images, groups and load balancers (the release
    # history); the consoles; drydock's output.
    ec2, asg, elb = world.aws("ec2"), world.aws("autoscaling"), world.aws("elb")
    lbs = [lb["LoadBalancerName"] for lb in elb.describe_load_balancers()["LoadBalancerDescriptions"]]
    assert lbs
    records = [json.dumps(ec2.describe_tags(), default=str), json.dumps(asg.describe_tags(), default=str),
               json.dumps(ec2.describe_images(Owners=["self"]), default=str),
               json.dumps(asg.describe_auto_scaling_groups(), default=str),
               json.dumps(elb.describe_tags(LoadBalancerNames=lbs), default=str)]
    user_data = []
    for lt in ec2.describe_launch_templates()["LaunchTemplates"]:
        versions = ec2.describe_launch_template_versions(LaunchTemplateId=lt["LaunchTemplateId"])
        records.append(json.dumps(versions, default=str))
        for v in versions["LaunchTemplateVersions"]:
            ud = v["LaunchTemplateData"].get("UserData")
            if ud:
                user_data.append(base64.b64decode(ud).decode())
    ud = world.aws("ec2").describe_instance_attribute(InstanceId=g.iid, Attribute="userData")
    user_data.append(base64.b64decode(ud["UserData"]["Value"]).decode())
    assert user_data and all(f"DB_PASSWORD=ssm:{SSM_NAME}" in u for u in user_data), user_data
    consoles = [gg.console_text() for gg in world.driver.guests.values()]
    journal = world.driver.exec(g, "journalctl", "--no-pager", "-o", "cat").stdout
    assert "drydock" in journal
    for v in SECRET_MARKS:
        for what, texts in (("AWS's records", records), ("user data", user_data), ("a console", consoles),
                            ("drydock's output", world.outputs), ("the journal", [journal])):
            assert not any(v in t for t in texts), f"a secret's value is in {what}"


def test_a_killed_container_is_restarted(world):
    g = needs(world, "instance", "serving instance")
    before = world.driver.exec(g, "docker", "inspect", "-f", "{{.Id}}", "drydock-hello").stdout.strip()
    t = time.monotonic()
    world.driver.exec(g, "docker", "kill", "drydock-hello")

    def restarted():
        r = world.driver.exec(g, "docker", "inspect", "-f", "{{.Id}}", "drydock-hello", check=False)
        return r.returncode == 0 and r.stdout.strip() != before and http_get("/health")[0] == 200

    world.driver.wait(restarted, 60, "the container to be restarted after docker kill")
    TIMINGS["restart_after_kill_s"] = round(time.monotonic() - t, 1)


def test_the_unit_verifies_inside_the_guest(world):
    r = world.driver.exec(needs(world, "instance", "serving instance"), "systemd-analyze", "verify", "/etc/systemd/system/drydock-hello.service",
                          check=False)
    assert r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(), r.stdout + r.stderr


def test_a_secret_it_cannot_read_keeps_the_service_from_starting(world):
    # The parameter goes away (deleted, or a role without access): at the next start the
    # init job cannot read it, the container does not start, and the journal says which
    # secret and why. systemd keeps trying (Restart=always); once the parameter is back
    # (here with a new value, as after a rotation) the service starts with it.
    g = needs(world, "instance", "serving instance")
    ssm = world.aws("ssm")
    ssm.delete_parameter(Name=SSM_NAME)
    r = world.driver.exec(g, "systemctl", "restart", "drydock-hello", check=False, timeout=90)
    assert r.returncode != 0, "the service started without its secret"
    state = world.driver.exec(g, "systemctl", "is-active", "drydock-hello", check=False).stdout.strip()
    assert state != "active", state
    running = world.driver.exec(g, "docker", "ps", "-q", "--filter", "name=drydock-hello").stdout.strip()
    assert running == "", "the container runs without its secret"
    assert http_get("/health")[0] != 200
    journal = world.driver.exec(g, "journalctl", "--no-pager", "-o", "cat", "-u", "drydock-hello").stdout
    assert f"drydock: hello: secret DB_PASSWORD (ssm:{SSM_NAME}) could not be read" in journal, journal[-3000:]
    assert "ParameterNotFound" in journal, journal[-3000:]
    t = time.monotonic()
    rotated = SSM_VALUE + "-rotated"
    ssm.put_parameter(Name=SSM_NAME, Value=rotated, Type="SecureString")
    world.driver.wait(lambda: parse_env(http_get("/env")[1]).get("DB_PASSWORD") == rotated, 60,
                      "the service to start by itself once the secret is readable again")
    TIMINGS["start_after_secret_restored_s"] = round(time.monotonic() - t, 1)


def test_a_failing_bootstrap_is_reported_at_once(world):
    # A tag that the registry does not have: `docker pull` fails in the bootstrap. The
    # builder keeps running (it never powers off); drydock must read the failure on its
    # console within a poll, not wait out bake.timeout (10 minutes here). Started with the
    # first bake, on a second machine.
    f = needs(world, "failing", "failing bake")
    p = f["proc"]
    f["thread"].join(timeout=max(1, 300 - (time.monotonic() - f["started"])))
    if "elapsed" not in f:
        p.kill()
        f["thread"].join()
        pytest.fail(f"the failing bake was not reported within 300 s:\n{f['err']}")
    out, err, dt = f["out"], f["err"], f["elapsed"]
    world.log(f"drydock bake hello --image-tag {MISSING_TAG}: exit {p.returncode}\n{err}")
    assert p.returncode == 1, f"exit {p.returncode}:\n{err}"
    # One JSON document, as for every command: the failed result names what happened.
    r = json.loads(out)["results"][0]
    assert r["outcome"] == "failed", r
    msg = r["message"]
    assert "drydock-bake: FAILED at line" in msg, msg
    assert f"{REGISTRY_HOST}/{REPO}:{MISSING_TAG}" in msg and "not found" in msg, msg
    assert not any(v in out + err for v in SECRET_MARKS)
    builder = next(g for g in world.driver.guests.values()
                   if g.role == "builder" and g.tags.get("drydock:image", "").endswith(f":{MISSING_TAG}"))
    # drydock terminated it; the driver killed the machine.
    world.driver.wait(lambda: builder.state == "terminated", 30, f"{builder.iid} to be terminated")
    TIMINGS["failed_bake_s"] = round(dt, 1)
