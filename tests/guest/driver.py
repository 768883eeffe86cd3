"""The guest driver: plays EC2's hypervisor for the instances of the emulator.

moto keeps the books (instances, states, images); this boots the real machines. For every
instance that the emulator shows as pending/running, it makes the instance's disk (a copy
of its AMI's disk: the base root filesystem for the base AMI, or a disk captured by
CreateImage), writes a NoCloud seed with the instance's id and its user data byte for byte,
and boots it with systemd-nspawn. Then, as EC2 would:

- the guest powers itself off (nspawn exits 0)       -> StopInstances: the instance is `stopped`
- nspawn fails                                       -> TerminateInstances
- someone terminates the instance (drydock, the test) -> the machine is killed at once
- CreateImage of a stopped builder (an image whose drydock:recipe tag is that builder's)
                                                     -> the builder's disk becomes the AMI's disk

What only the test world adds to a disk (none of it is drydock's doing): the NoCloud seed
(EC2's user data; the rest of EC2's metadata service, IMDSv2 and the instance role's
credentials, is tests/guest/metadata.py), the registry's and AWS's regional endpoints'
names in /etc/hosts (EC2's DNS) and the test CA under /etc/docker/certs.d and in the
system's trust store (public certificates). The seed is removed again when
a disk becomes an AMI, as EC2's metadata is not part of a snapshot.

Everything runs in the test's network namespace, where 127.0.0.1 is the registry, the
emulator and the guests' published ports alike.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field

import boto3

NSPAWN_ENV = {
    # The host is cgroup v1 hybrid and PID 1 is not systemd: a unified hierarchy inside,
    # else runc cannot create the container's cgroups.
    "SYSTEMD_NSPAWN_UNIFIED_HIERARCHY": "1",
    # dockerd sets net.ipv4.ip_forward (in the test's own network namespace).
    "SYSTEMD_NSPAWN_API_VFS_WRITABLE": "network",
    # No seccomp filter: runc needs keyctl (a session keyring per container) and bpf (the
    # cgroup v2 device filter), which nspawn's filter refuses.
    "SYSTEMD_SECCOMP": "0",
}


@dataclass
class Guest:
    iid: str
    image: str
    role: str  # "builder" or "instance"
    recipe: str | None
    dir: str
    tags: dict[str, str] = field(default_factory=dict)
    state: str = "booting"  # booting, running, stopped, failed, terminated
    proc: subprocess.Popen | None = None
    rc: int | None = None
    killed: bool = False
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None

    @property
    def disk(self) -> str:
        return os.path.join(self.dir, "disk")

    @property
    def console(self) -> str:
        return os.path.join(self.dir, "console.log")

    def leader(self) -> int | None:
        """The PID (on this host) of the guest's init: the child of systemd-nspawn."""
        if self.proc is None or self.proc.poll() is not None:
            return None
        try:
            out = subprocess.run(
                ["ps", "-o", "pid=", "--ppid", str(self.proc.pid)], capture_output=True, text=True
            ).stdout.split()
        except OSError:
            return None
        return int(out[0]) if out else None

    def console_text(self) -> str:
        try:
            with open(self.console, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""


class Driver:
    def __init__(
        self,
        endpoint: str,
        work: str,
        base_rootfs: str,
        base_amis: set[str],
        registry_host: str,
        ca_file: str,
        console_dir: str,
        log,
        aws_hosts: tuple[str, list[str]] | None = None,
    ) -> None:
        self.ec2 = boto3.client(
            "ec2",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        self.work = work
        self.base_rootfs = base_rootfs
        self.base_amis = base_amis
        self.registry_host = registry_host
        self.ca_file = ca_file
        self.console_dir = console_dir
        self.log = log
        self.aws_hosts = aws_hosts
        self.guests: dict[str, Guest] = {}
        self.amis: dict[str, str] = {}  # AMI id -> its disk
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, name="guest-driver", daemon=True)
        self.error: BaseException | None = None
        os.makedirs(os.path.join(work, "instances"), exist_ok=True)
        os.makedirs(os.path.join(work, "amis"), exist_ok=True)
        os.makedirs(console_dir, exist_ok=True)

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        self.thread.start()

    def close(self) -> None:
        self.stop_event.set()
        self.thread.join(timeout=10)
        for g in list(self.guests.values()):
            self.kill(g)

    def _run(self) -> None:
        try:
            while not self.stop_event.is_set():
                self.poll()
                self.stop_event.wait(0.2)
        except BaseException as e:  # reported by the tests through `check`
            self.error = e
            self.log(f"driver: crashed: {e!r}")
            raise

    def check(self) -> None:
        if self.error is not None:
            raise RuntimeError(f"the guest driver crashed: {self.error!r}")

    # -- one poll ------------------------------------------------------------------------
    def poll(self) -> None:
        out = self.ec2.describe_instances()
        states = {}
        for res in out["Reservations"]:
            for inst in res["Instances"]:
                iid = inst["InstanceId"]
                states[iid] = inst["State"]["Name"]
                if iid not in self.guests and inst["State"]["Name"] in ("pending", "running"):
                    tags = {t["Key"]: t["Value"] for t in inst.get("Tags", [])}
                    self.launch(iid, inst["ImageId"], tags)
        for g in list(self.guests.values()):
            if states.get(g.iid) == "terminated" and g.proc is not None and g.proc.poll() is None:
                self.log(f"driver: {g.iid} was terminated: killing its machine")
                self.kill(g)
        self.capture_images()

    def launch(self, iid: str, image: str, tags: dict[str, str]) -> None:
        role = "builder" if tags.get("drydock:role") == "builder" else "instance"
        g = Guest(iid, image, role, tags.get("drydock:recipe"), os.path.join(self.work, "instances", iid), tags)
        with self.lock:
            self.guests[iid] = g
        ud = self.ec2.describe_instance_attribute(InstanceId=iid, Attribute="userData")
        user_data = base64.b64decode(ud.get("UserData", {}).get("Value", "") or "")
        threading.Thread(target=self._boot, args=(g, user_data), name=f"guest-{iid}", daemon=True).start()

    # -- a machine -----------------------------------------------------------------------
    def _boot(self, g: Guest, user_data: bytes) -> None:
        try:
            src = self.amis.get(g.image)
            if src is None:
                if g.image not in self.base_amis:
                    raise RuntimeError(f"{g.iid}: no disk for image {g.image}")
                src = self.base_rootfs
            os.makedirs(g.dir, exist_ok=True)
            t0 = time.monotonic()
            subprocess.run(["cp", "-a", src, g.disk], check=True)
            self.log(f"driver: {g.iid} ({g.role}) disk copied from {src} in {time.monotonic() - t0:.1f} s")
            self.prepare(g, user_data)
            with open(g.console, "wb") as console:
                # The console EC2 would show: linked where the emulator's GetConsoleOutput reads.
                link = os.path.join(self.console_dir, f"{g.iid}.log")
                if os.path.lexists(link):
                    os.unlink(link)
                os.symlink(g.console, link)
                g.proc = subprocess.Popen(
                    [
                        "systemd-nspawn",
                        "--quiet",
                        "--directory", g.disk,
                        "--boot",
                        "--machine", g.iid,
                        "--register=no",
                        "--keep-unit",
                        "--capability=all",
                        "--console=read-only",
                        "--resolv-conf=off",
                        "--timezone=off",
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=console,
                    stderr=subprocess.STDOUT,
                    env={**os.environ, **NSPAWN_ENV},
                    start_new_session=True,
                )
            g.state = "running"
            self.log(f"driver: {g.iid} ({g.role}) booting from {g.image}")
            g.rc = g.proc.wait()
            g.ended = time.monotonic()
        except BaseException as e:
            self.log(f"driver: {g.iid}: {e!r}")
            g.rc = -1
        if g.killed:
            g.state = "terminated"
            return
        if g.rc == 0:
            g.state = "stopped"
            self.log(f"driver: {g.iid} powered off after {g.ended - g.started:.1f} s: StopInstances")
            self.ec2.stop_instances(InstanceIds=[g.iid])
        else:
            g.state = "failed"
            self.log(f"driver: {g.iid}: systemd-nspawn exited {g.rc}: TerminateInstances")
            self.ec2.terminate_instances(InstanceIds=[g.iid])

    def prepare(self, g: Guest, user_data: bytes) -> None:
        seed = os.path.join(g.disk, "var/lib/cloud/seed/nocloud")
        os.makedirs(seed, exist_ok=True)
        with open(os.path.join(seed, "user-data"), "wb") as f:
            f.write(user_data)
        with open(os.path.join(seed, "meta-data"), "w") as f:
            f.write(f"instance-id: {g.iid}\nlocal-hostname: {g.iid}\n")
        # The base's locale (a Debian cloud image has one; the minimal root filesystem has
        # only C.UTF-8, and cloud-init's default en_US.UTF-8 fails its config stage).
        with open(os.path.join(g.disk, "etc/cloud/cloud.cfg.d/91-drydock-guest-locale.cfg"), "w") as f:
            f.write("locale: C.UTF-8\n")
        # The test world's DNS: the registry's name is this namespace's loopback.
        hosts = os.path.join(g.disk, "etc/hosts")
        text = open(hosts).read() if os.path.exists(hosts) else "127.0.0.1 localhost\n"
        if self.registry_host not in text:
            with open(hosts, "a") as f:
                f.write(f"127.0.0.1 {self.registry_host}\n")
        # AWS's regional endpoints (SSM, Secrets Manager) are the test's TLS front of the
        # emulator (tests/guest/metadata.py): EC2's DNS and a public certificate, so the
        # AWS CLI on the guest needs no endpoint or CA option.
        if self.aws_hosts is not None:
            addr, names = self.aws_hosts
            if names[0] not in text:
                with open(hosts, "a") as f:
                    f.write(f"{addr} {' '.join(names)}\n")
        certs = os.path.join(g.disk, "etc/docker/certs.d", self.registry_host)
        os.makedirs(certs, exist_ok=True)
        shutil.copy(self.ca_file, os.path.join(certs, "ca.crt"))
        # The test CA as a public one, in the system's trust store (what
        # update-ca-certificates would do): the AWS CLI trusts it there.
        bundle = os.path.join(g.disk, "etc/ssl/certs/ca-certificates.crt")
        ca = open(self.ca_file).read()
        if os.path.exists(bundle) and ca not in open(bundle).read():
            with open(bundle, "a") as f:
                f.write(ca)

    def kill(self, g: Guest) -> None:
        """EC2's terminate: the machine stops at once (its init, and so its PID namespace, is killed)."""
        if g.proc is None or g.proc.poll() is not None:
            return
        g.killed = True
        leader = g.leader()
        if leader:
            try:
                os.kill(leader, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            g.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(g.proc.pid, signal.SIGKILL)
            g.proc.wait(timeout=10)

    # -- CreateImage -------------------------------------------------------------------
    def capture_images(self) -> None:
        out = self.ec2.describe_images(Owners=["self"])
        for img in out["Images"]:
            ami = img["ImageId"]
            if ami in self.amis:
                continue
            tags = {t["Key"]: t["Value"] for t in img.get("Tags", [])}
            recipe = tags.get("drydock:recipe")
            if recipe is None:
                continue
            builders = [g for g in self.guests.values() if g.role == "builder" and g.recipe == recipe and g.state == "stopped"]
            if not builders:
                continue
            g = builders[-1]
            disk = os.path.join(self.work, "amis", ami)
            os.rename(g.disk, disk)
            # EC2's metadata (here: the NoCloud seed) is not part of a snapshot.
            shutil.rmtree(os.path.join(disk, "var/lib/cloud/seed/nocloud"), ignore_errors=True)
            g.state = "imaged"
            self.amis[ami] = disk
            self.log(f"driver: CreateImage {ami}: the disk of {g.iid}")

    # -- for the tests -------------------------------------------------------------------
    def wait(self, pred, timeout: float, what: str):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check()
            v = pred()
            if v:
                return v
            time.sleep(0.2)
        raise TimeoutError(f"waited {timeout:.0f} s for {what}")

    def exec(self, g: Guest, *cmd: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        """Runs a command inside a running guest (all of its namespaces)."""
        leader = g.leader()
        if leader is None:
            raise RuntimeError(f"{g.iid} is not running")
        r = subprocess.run(
            ["nsenter", "--target", str(leader), "--all", "--", *cmd],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and r.returncode != 0:
            raise AssertionError(f"in {g.iid}: {' '.join(cmd)} exited {r.returncode}:\n{r.stdout}{r.stderr}")
        return r

    def summary(self) -> str:
        return json.dumps(
            {g.iid: {"role": g.role, "image": g.image, "state": g.state, "rc": g.rc} for g in self.guests.values()},
            indent=1,
        )
