#!/usr/bin/env python3
"""Benchmark of `drydock deploy --all` against the local emulator (not a timed test).

For each size N (default 1, 10, 50) it writes a throwaway config tree with N services,
deploys release v001 of all of them (setup, not measured), then measures a routine
second deploy (v001 -> v002, the old group kept as a warm standby) with `--parallel N`:
wall time, peak RSS and CPU of drydock, drydock's AWS requests by `service:Action`,
requests per service excluding polls, and the request rate per API family against the
limits in src/cloud/pace.rs. The emulator makes instances InService at once, so the new
AMI's instances are made OutOfService (the shim's control API) until 3 s after the last
new group was created, so that every service's wait really polls. N = 1 and N = 10 are also
measured without that phase, to check that rolling 10 services in parallel costs at most
twice the wall time of one.

Prints a Markdown section for the README on stdout (progress on stderr). Exits 1 if a
deploy fails or the harness breaks; a missed target is reported, not an error.

    .venv/bin/python tests/tools/bench_deploy.py [--sizes 1,10,50] [--repeats 3]
    bash tests/tools/bench-deploy.sh [same flags]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYTHON = ROOT / ".venv" / "bin" / "python"
SHIM = ROOT / "tests" / "moto" / "drydock_moto.py"
PACE_RS = ROOT / "src" / "cloud" / "pace.rs"

# Two of the emulator's stock AMIs (Canonical's Ubuntu 14.04 and 16.04): no bake needed.
AMI_A = "ami-1e749f67"
AMI_B = "ami-785db401"
ENV = "bench"

# API families as in src/cloud/pace.rs: (recorded service, read?) -> pace.rs name.
FAMILIES = [
    ("Ec2Read", "EC2 reads"),
    ("Ec2Write", "EC2 writes"),
    ("ElbRead", "classic ELB reads"),
    ("ElbWrite", "classic ELB writes"),
    ("AsgRead", "Auto Scaling reads"),
    ("AsgWrite", "Auto Scaling writes"),
]
# The values in pace.rs when this script was written; used only if it cannot be parsed.
FALLBACK_LIMITS = {
    "Ec2Read": (100.0, 20.0),
    "Ec2Write": (50.0, 5.0),
    "ElbRead": (40.0, 10.0),
    "ElbWrite": (20.0, 5.0),
    "AsgRead": (40.0, 10.0),
    "AsgWrite": (20.0, 5.0),
}
POLL_ACTIONS = ("autoscaling:DescribeAutoScalingGroups", "elasticloadbalancing:DescribeInstanceHealth")
# Requests made once per command, whatever N (network lookups).
SHARED_ACTIONS = ("ec2:DescribeVpcs", "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups")

TARGET_REQUESTS_PER_SERVICE = 15
TARGET_WALL_RATIO = 2.0


def log(msg: str) -> None:
    print(f"[bench-deploy] {msg}", file=sys.stderr, flush=True)


class Fail(Exception):
    """The harness or a deploy failed: exit 1."""


# --------------------------------------------------------------------------
# The emulator
# --------------------------------------------------------------------------
class Emulator:
    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.url = ""

    def start(self) -> None:
        if not PYTHON.exists():
            raise Fail(f"{PYTHON} is missing: run `bash tests/moto/venv.sh` (or `make setup`)")
        self.proc = subprocess.Popen(
            [str(PYTHON), str(SHIM), "--host", "127.0.0.1", "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        deadline = time.monotonic() + 60
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.5)
            if ready:
                line = self.proc.stdout.readline()
                m = re.match(r"READY (\d+)", line or "")
                if m:
                    self.url = f"http://127.0.0.1:{m.group(1)}"
                    return
                if not line:
                    break
            if self.proc.poll() is not None:
                break
        raise Fail("the emulator did not print READY <port>")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def call(self, method: str, path: str, body: object | None = None) -> object:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=30) as r:
            raw = r.read()
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return raw.decode("utf-8", "replace")

    def reset(self) -> None:
        self.call("POST", "/moto-api/reset")

    def drydock_requests(self) -> list[dict]:
        reqs = self.call("GET", "/drydock-shim/requests")
        assert isinstance(reqs, list)
        return [r for r in reqs if r.get("client") == "drydock"]

    def clear_requests(self) -> None:
        self.call("DELETE", "/drydock-shim/requests")


# --------------------------------------------------------------------------
# The config tree and one drydock run
# --------------------------------------------------------------------------
def service_names(n: int) -> list[str]:
    width = max(3, len(str(n)))
    return [f"svc{i:0{width}d}" for i in range(1, n + 1)]


def write_tree(root: Path, n: int) -> None:
    (root / "amis").mkdir(parents=True)
    (root / "environments").mkdir()
    parts = [
        "# Written by tests/tools/bench_deploy.py: N identical services, no recipes.\n",
        'region = "us-east-1"\n\n',
        "[network]\n",
        'vpc = "default"\n',
        'subnets = ["default"]\n',
        'security_groups = ["default"]\n',
    ]
    for s in service_names(n):
        parts.append(
            f"\n[services.{s}]\n"
            'instance_type = "t3.small"\n'
            "min = 1\n"
            "desired = 2\n"
            "max = 4\n"
            'listener = { port = 80, protocol = "HTTP", instance_port = 8080 }\n'
            'health_check = "HTTP:8080/health"\n'
            'standby = "warm"\n'
        )
    (root / "environments" / f"{ENV}.toml").write_text("".join(parts))


@dataclass
class Run:
    wall_s: float
    maxrss_kib: int
    cpu_s: float
    code: int
    stdout: str
    stderr: str
    # The OutOfService phase: when (s after the start) the last group was created and
    # when the new AMI was made healthy again.
    last_group_s: float | None = None
    healthy_s: float | None = None


class Healer(threading.Thread):
    """Keeps the new AMI OutOfService until `hold` seconds after the start *and* `hold`
    seconds after the last of the N new groups was created, then makes it healthy. (With
    many services drydock's pacing spreads the CreateAutoScalingGroup calls over tens of
    seconds: a fixed 3 s from the start would be over before most waits began.)"""

    def __init__(self, emu: Emulator, n: int, hold: float, start_unix: float) -> None:
        super().__init__(daemon=True)
        self.emu, self.n, self.hold, self.t0 = emu, n, hold, start_unix
        self.done = threading.Event()
        self.last_group_s: float | None = None
        self.healthy_s: float | None = None
        self.error: Exception | None = None

    def run(self) -> None:
        try:
            while not self.done.is_set():
                if self.last_group_s is None:
                    created = sorted(
                        r["t"] for r in self.emu.drydock_requests()
                        if r["action"] == "CreateAutoScalingGroup"
                    )
                    if len(created) >= self.n:
                        self.last_group_s = created[self.n - 1] - self.t0
                if self.last_group_s is not None:
                    due = max(self.hold, self.last_group_s + self.hold)
                    if time.time() - self.t0 >= due:
                        self.emu.call("DELETE", "/drydock-shim/unhealthy")
                        self.healthy_s = time.time() - self.t0
                        return
                self.done.wait(0.2)
        except Exception as e:  # reported by the caller
            self.error = e


def run_drydock(
    args: argparse.Namespace,
    emu: Emulator,
    tree: Path,
    ami: str,
    parallel: int,
    work: Path,
    label: str,
    n: int,
    unhealthy_s: float = 0.0,
) -> Run:
    """One `deploy --all`; its own rusage from wait4 (peak RSS of this child only)."""
    env = dict(os.environ)
    for k in list(env):
        if k.startswith("AWS_") or k.startswith("DRYDOCK_"):
            del env[k]
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
        AWS_ENDPOINT_URL=emu.url,
        DRYDOCK_POLL_INTERVAL=f"{args.poll_ms}ms",
    )
    out_path, err_path = work / f"{label}.out", work / f"{label}.err"
    cmd = [
        str(args.drydock), "-C", str(tree), "--output", "json", "deploy", "--all",
        "--env", ENV, "--ami", ami, "--parallel", str(parallel),
    ]
    healer = None
    if unhealthy_s > 0:
        emu.call("POST", "/drydock-shim/unhealthy", {"amis": [ami]})
    with open(out_path, "w") as out, open(err_path, "w") as err:
        t0 = time.monotonic()
        start_unix = time.time()
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err, cwd=work)
        if unhealthy_s > 0:
            healer = Healer(emu, n, unhealthy_s, start_unix)
            healer.start()
        try:
            _, status, ru = os.wait4(proc.pid, 0)
        finally:
            wall = time.monotonic() - t0
            if healer:
                healer.done.set()
                healer.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
    if unhealthy_s > 0:
        emu.call("DELETE", "/drydock-shim/unhealthy")
        if healer and healer.error:
            raise Fail(f"{label}: the OutOfService phase broke: {healer.error}")
    run = Run(
        wall_s=wall,
        maxrss_kib=ru.ru_maxrss,
        cpu_s=ru.ru_utime + ru.ru_stime,
        code=proc.returncode,
        stdout=out_path.read_text(),
        stderr=err_path.read_text(),
        last_group_s=healer.last_group_s if healer else None,
        healthy_s=healer.healthy_s if healer else None,
    )
    if run.code != 0:
        tail = "\n".join(run.stderr.splitlines()[-30:])
        raise Fail(
            f"{label}: `{' '.join(cmd)}` exited {run.code}\n--- stdout ---\n{run.stdout[-3000:]}\n"
            f"--- stderr (last 30 lines) ---\n{tail}\n(--keep keeps the tree and drydock's output)"
        )
    try:
        doc = json.loads(run.stdout)
        results = doc["results"]
    except (ValueError, KeyError) as e:
        raise Fail(f"{label}: drydock's JSON output is not a deploy document ({e}): {run.stdout[:500]}")
    bad = [r for r in results if r.get("outcome") != "deployed"]
    if len(results) != n or bad:
        raise Fail(f"{label}: expected every service deployed, got {json.dumps(results)[:2000]}")
    return run


# --------------------------------------------------------------------------
# Analysis
# --------------------------------------------------------------------------
def parse_limits() -> tuple[dict[str, tuple[float, float]], str]:
    try:
        text = PACE_RS.read_text()
    except OSError:
        text = ""
    found = {
        m.group(1): (float(m.group(2)), float(m.group(3)))
        for m in re.finditer(r"Api::(\w+)\s*=>\s*\(\s*([\d.]+)\s*,\s*([\d.]+)\s*\)", text)
    }
    if all(f in found for f, _ in FAMILIES):
        return found, "src/cloud/pace.rs"
    log("warning: could not read the limits from src/cloud/pace.rs; using the values it had when this script was written")
    return dict(FALLBACK_LIMITS), "built-in copy of src/cloud/pace.rs"


def family(r: dict) -> str:
    read = (r.get("action") or "").startswith("Describe")
    svc = r.get("service")
    base = {"ec2": "Ec2", "elasticloadbalancing": "Elb", "autoscaling": "Asg"}.get(svc)
    if base is None:
        raise Fail(f"a request of an unexpected service: {r}")
    return base + ("Read" if read else "Write")


def peak_window(times: list[float], window: float = 1.0) -> int:
    """The most requests in any half-open window [t, t + window)."""
    times = sorted(times)
    best, i = 0, 0
    for j, t in enumerate(times):
        while t - times[i] >= window:
            i += 1
        best = max(best, j - i + 1)
    return best


# drydock's pacer sends a request the moment its own bucket holds 1 token; the emulator
# stamps a request when its Python thread gets to run it, tens of milliseconds later
# under load and unevenly (a burst that opens 40 connections at once is stamped late),
# so requests paced at exactly the limit can appear bunched. A request counts as over
# the limit only if it would be even when every arrival may be up to JITTER_S late.
JITTER_S = 0.25


def bucket_low(times: list[float], size: float, rate: float) -> tuple[float, int]:
    """Replays the arrivals through a full token bucket (size, rate/s), as AWS meters
    them: the lowest level left after a request (below 0: the strict bucket would have
    throttled it), and how many requests found fewer than 1 - rate * JITTER_S tokens."""
    tokens, last, low, over = size, None, size, 0
    for t in sorted(times):
        if last is not None:
            tokens = min(size, tokens + (t - last) * rate)
        last = t
        if tokens < 1.0 - rate * JITTER_S:
            over += 1
        tokens -= 1.0
        low = min(low, tokens)
    return low, over


@dataclass
class Measured:
    n: int
    run: Run
    requests: list[dict]
    by_action: collections.Counter = field(default_factory=collections.Counter)

    def __post_init__(self) -> None:
        self.by_action = collections.Counter(f"{r['service']}:{r['action']}" for r in self.requests)

    @property
    def total(self) -> int:
        return len(self.requests)

    @property
    def polls(self) -> int:
        # Observing a cluster (routine deploy: its ELB exists) makes exactly one
        # DescribeAutoScalingGroups (groups tagged with the cluster) and one
        # DescribeInstanceHealth per service; every other call of those two actions is
        # made by WaitInService.
        return sum(self.by_action[a] for a in POLL_ACTIONS) - 2 * self.n

    @property
    def per_service_excl_polls(self) -> float:
        return (self.total - self.polls) / self.n

    @property
    def per_service_own(self) -> float:
        """As above, without the command-wide network lookups."""
        shared = sum(self.by_action[a] for a in SHARED_ACTIONS)
        return (self.total - self.polls - shared) / self.n

    def times(self, fam: str) -> list[float]:
        return [r["t"] for r in self.requests if family(r) == fam]

    def pacing_floor(self, limits: dict[str, tuple[float, float]]) -> tuple[float, str]:
        """The shortest time in which drydock's pacer lets these requests out, from full
        buckets: (count - burst) / refill of the most loaded family, and that family."""
        best, which = 0.0, "none"
        for fam, name in FAMILIES:
            size, rate = limits[fam]
            count = len(self.times(fam))
            floor = max(0.0, (count - size) / rate)
            if floor > best:
                best, which = floor, f"{name}: {count} requests, burst {fmt_n(size)}, {fmt_n(rate)}/s"
        return best, which


def git_revision() -> str:
    try:
        r = subprocess.run(
            ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
            capture_output=True, text=True, timeout=10,
        )
        return r.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def fmt_s(x: float) -> str:
    return f"{x:.2f}"


def fmt_n(x: float) -> str:
    return f"{x:.0f}" if abs(x - round(x)) < 1e-9 else f"{x:.1f}"


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------
def setup_size(args, emu: Emulator, work: Path, n: int, tag: str) -> Path:
    """A fresh emulator and tree with v001 of N services live; the recorder cleared."""
    tree = work / f"tree-{tag}-n{n}"
    if tree.exists():
        shutil.rmtree(tree)
    write_tree(tree, n)
    emu.reset()
    run_drydock(args, emu, tree, args.ami_a, min(n, 100), work, f"setup-{tag}-n{n}", n)
    emu.clear_requests()
    return tree


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="1,10,50", help="comma-separated numbers of services (default 1,10,50)")
    p.add_argument("--repeats", type=int, default=3, help="runs per size of the instant-health check; the median counts (default 3)")
    p.add_argument("--unhealthy-seconds", type=float, default=3.0, help="the new AMI is OutOfService in the measured run until this long after the start and after the last new group was created (default 3)")
    p.add_argument("--poll-ms", type=int, default=100, help="DRYDOCK_POLL_MS (default 100)")
    p.add_argument("--drydock", type=Path, default=ROOT / "target" / "debug" / "drydock")
    p.add_argument("--ami-a", default=AMI_A, help=f"the AMI of the setup release (default {AMI_A})")
    p.add_argument("--ami-b", default=AMI_B, help=f"the AMI of the measured release (default {AMI_B})")
    p.add_argument("--keep", action="store_true", help="keep the temporary trees and drydock's output")
    p.add_argument("--raw", type=Path, help="write every measured run's recorded requests (JSON) to this file")
    args = p.parse_args()
    try:
        sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    except ValueError:
        p.error(f"--sizes: not a list of numbers: {args.sizes}")
    if not sizes or min(sizes) < 1:
        p.error("--sizes: give numbers of services >= 1")
    if max(sizes) > 100:
        log("note: --parallel is at most 100; sizes above that roll 100 at a time")
    if not os.access(args.drydock, os.X_OK):
        raise Fail(f"{args.drydock} is missing: run `cargo build` first")

    limits, limits_src = parse_limits()
    work = Path(tempfile.mkdtemp(prefix="drydock-bench-deploy-"))
    # A private copy: a rebuild during the benchmark must not change what is measured.
    binary = work / "drydock"
    shutil.copy2(args.drydock, binary)
    args.drydock = binary
    args.revision = git_revision()
    raw: dict[str, list[dict]] = {}
    emu = Emulator()
    try:
        emu.start()
        info = emu.call("GET", "/drydock-shim/info")
        moto_version = info.get("moto", "?") if isinstance(info, dict) else "?"
        log(f"emulator at {emu.url} (moto {moto_version}), work dir {work}")

        measured: dict[int, Measured] = {}
        for n in sizes:
            tree = setup_size(args, emu, work, n, "polled")
            log(f"N={n}: measuring the routine deploy ({args.ami_a} -> {args.ami_b}, {args.ami_b} OutOfService until {args.unhealthy_seconds:g} s after the last new group)")
            run = run_drydock(
                args, emu, tree, args.ami_b, min(n, 100), work, f"measure-n{n}", n,
                unhealthy_s=args.unhealthy_seconds,
            )
            m = Measured(n, run, emu.drydock_requests())
            measured[n] = m
            raw[f"polled-n{n}"] = m.requests
            log(f"N={n}: {run.wall_s:.2f} s, {m.total} requests, {m.polls} polls, peak RSS {run.maxrss_kib / 1024:.1f} MiB")
            if m.polls <= 0:
                log(f"warning: N={n}: no polls recorded; the unhealthy phase did not make the waits poll")

        instant: dict[int, list[float]] = {}
        instant_requests: dict[int, Measured] = {}
        for n in [s for s in (1, 10) if s in sizes]:
            instant[n] = []
            for i in range(args.repeats):
                tree = setup_size(args, emu, work, n, f"instant{i}")
                run = run_drydock(args, emu, tree, args.ami_b, min(n, 100), work, f"instant{i}-n{n}", n)
                instant[n].append(run.wall_s)
                instant_requests[n] = Measured(n, run, emu.drydock_requests())
                raw[f"instant{i}-n{n}"] = instant_requests[n].requests
            log(f"N={n} instant health: {', '.join(fmt_s(w) for w in instant[n])} s")
    finally:
        emu.stop()
        if args.raw:
            args.raw.write_text(json.dumps(raw, indent=1))
            log(f"wrote the recorded requests of every measured run to {args.raw}")
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    print_report(args, sizes, measured, instant, instant_requests, limits, limits_src, moto_version)
    return 0


def print_report(args, sizes, measured, instant, instant_requests, limits, limits_src, moto_version) -> None:
    out: list[str] = []
    w = out.append
    w("### Deploy benchmark")
    w("")
    w(
        f"`bash tests/tools/bench-deploy.sh` (`tests/tools/bench_deploy.py`) against the local "
        f"emulator, debug build (tree at `{args.revision}`), moto {moto_version}, poll {args.poll_ms} ms, "
        f"drydock's requests only. "
        f"N services (t3.small, desired 2, warm standby, no recipe) get v001 of "
        f"`{args.ami_a}` (setup, not measured); then the measured run is the routine deploy "
        f"`drydock deploy --all --env bench --ami {args.ami_b} --parallel N` (v001 → v002). "
        f"The instances of `{args.ami_b}` are OutOfService (the shim's control API) until "
        f"{args.unhealthy_seconds:g} s after the last new group was created, so that every wait polls."
    )
    w("")
    w("| N | wall s | last group created at s | healthy at s | pacing floor s | drydock CPU s | peak RSS MiB | requests | polls | requests/service excl. polls | same, without the 3 network lookups |")
    w("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in sizes:
        m = measured[n]
        w(
            f"| {n} | {fmt_s(m.run.wall_s)} | {fmt_s(m.run.last_group_s or 0)} | {fmt_s(m.run.healthy_s or 0)} | "
            f"{fmt_s(m.pacing_floor(limits)[0])} | "
            f"{fmt_s(m.run.cpu_s)} | {m.run.maxrss_kib / 1024:.1f} | "
            f"{m.total} | {m.polls} | {m.per_service_excl_polls:.2f} | {m.per_service_own:.2f} |"
        )
    w("")
    w(
        "*Polls* are the DescribeAutoScalingGroups and DescribeInstanceHealth calls made while "
        "waiting: all calls of those two actions minus the one of each that observing a "
        "service's cluster makes. *Requests/service excl. polls* is (requests − polls) / N, "
        "including the command-wide lookups (DescribeVpcs, DescribeSubnets, "
        "DescribeSecurityGroups) shared by all N services. *Pacing floor*: the shortest time "
        "drydock's own pacer (src/cloud/pace.rs) allows for the requests it made, from full "
        "buckets: (requests − burst) / refill of the most loaded API family."
    )
    w("")

    # Rates per API family.
    w(f"Peak requests in any 1-second window, per API family, against the token buckets of `{limits_src}` "
      f"(a full bucket allows at most burst + refill requests in one second); *lowest level* replays "
      f"the recorded arrivals through that bucket: below 0 a strict bucket would have throttled; "
      f"the target counts a request as over the limit only below −refill × {JITTER_S:g} s, the emulator's "
      f"arrival jitter (drydock's pacer sends at exactly the limit, so its arrivals can look bunched by that much):")
    w("")
    head = "| family | limit (burst, refill/s) | " + " | ".join(f"N={n} peak/1 s" for n in sizes) + " | " + " | ".join(f"N={n} lowest level" for n in sizes) + " |"
    w(head)
    w("|---|---:|" + "---:|" * (2 * len(sizes)))
    for fam, name in FAMILIES:
        size, rate = limits[fam]
        peaks = [peak_window(measured[n].times(fam)) for n in sizes]
        lows = [bucket_low(measured[n].times(fam), size, rate)[0] if measured[n].times(fam) else size for n in sizes]
        w(
            f"| {name} | {fmt_n(size)}, {fmt_n(rate)}/s | "
            + " | ".join(str(x) for x in peaks) + " | "
            + " | ".join(f"{x:.1f}" for x in lows) + " |"
        )
    w("")

    # Requests by service:action.
    actions = sorted({a for n in sizes for a in measured[n].by_action})
    w("Requests by `service:Action` (the measured run; for N > 1 also per service):")
    w("")
    cols = []
    for n in sizes:
        cols.append(f"N={n}" if n == 1 else f"N={n} (per service)")
    if 1 in instant_requests:
        cols.insert(0, "N=1, instant health")
    w("| service:Action | " + " | ".join(cols) + " |")
    w("|---|" + "---:|" * len(cols))
    for a in actions:
        cells = []
        if 1 in instant_requests:
            cells.append(str(instant_requests[1].by_action[a]))
        for n in sizes:
            c = measured[n].by_action[a]
            cells.append(str(c) if n == 1 else f"{c} ({c / n:.2f})")
        note = " (poll)" if a in POLL_ACTIONS else (" (once per command)" if a in SHARED_ACTIONS else "")
        w(f"| {a}{note} | " + " | ".join(cells) + " |")
    tot = []
    if 1 in instant_requests:
        tot.append(str(instant_requests[1].total))
    for n in sizes:
        t = measured[n].total
        tot.append(str(t) if n == 1 else f"{t} ({t / n:.2f})")
    w("| **total** | " + " | ".join(tot) + " |")
    w("")

    if instant:
        w(f"Instant health (no OutOfService phase), median of {args.repeats} runs, `--parallel N`:")
        w("")
        w("| N | wall s (median) | runs | requests | pacing floor s | most loaded family |")
        w("|---:|---:|---|---:|---:|---|")
        for n in sorted(instant):
            floor, which = instant_requests[n].pacing_floor(limits)
            w(
                f"| {n} | {fmt_s(statistics.median(instant[n]))} | {', '.join(fmt_s(x) for x in instant[n])} | "
                f"{instant_requests[n].total} | {fmt_s(floor)} | {which if floor > 0 else '(all within the bursts)'} |"
            )
        w("")

    # Targets.
    w("Targets:")
    w("")
    worst = max(sizes, key=lambda n: measured[n].per_service_excl_polls)
    per = {n: measured[n].per_service_excl_polls for n in sizes}
    ok = all(v <= TARGET_REQUESTS_PER_SERVICE for v in per.values())
    w(
        f"- {'PASS' if ok else 'FAIL'}: ≤ {TARGET_REQUESTS_PER_SERVICE} requests per service for a routine deploy, "
        f"excluding polls: " + ", ".join(
            f"N={n}: {v:.1f} ({measured[n].per_service_own:.1f} without the command-wide network lookups)"
            for n, v in per.items())
        + ("" if ok else f" (worst N={worst})")
    )
    big = 50 if 50 in sizes else max(sizes)
    m = measured[big]
    fails = []
    detail = []
    for fam, name in FAMILIES:
        size, rate = limits[fam]
        times = m.times(fam)
        if not times:
            continue
        low, over = bucket_low(times, size, rate)
        detail.append(f"{name} peak {peak_window(times)}/1 s, lowest level {low:.1f} of {fmt_n(size)}")
        if over:
            fails.append(f"{name}: {over} request(s) over the bucket")
    w(
        f"- {'PASS' if not fails else 'FAIL'}: request rates under the limits at N = {big}"
        + ("" if big == 50 else " (50 was not measured)")
        + ": " + "; ".join(fails + detail)
    )
    if 1 in measured and 10 in measured:
        # The deploy as it runs against AWS: every rollout waits for its instances to
        # pass health checks, which is where the time goes.
        w1, w10 = measured[1].run.wall_s, measured[10].run.wall_s
        ratio = w10 / w1 if w1 > 0 else float("inf")
        w(
            f"- {'PASS' if ratio <= TARGET_WALL_RATIO else 'FAIL'}: N=10 wall ≤ {TARGET_WALL_RATIO:g} × N=1 wall "
            f"(rollouts that wait for health, as against AWS): {fmt_s(w10)} s vs {fmt_s(w1)} s, × {ratio:.2f}"
        )
    if 1 in instant and 10 in instant:
        w1, w10 = statistics.median(instant[1]), statistics.median(instant[10])
        ratio = w10 / w1 if w1 > 0 else float("inf")
        w(
            f"- {'PASS' if ratio <= TARGET_WALL_RATIO else 'FAIL'}: N=10 wall ≤ {TARGET_WALL_RATIO:g} × N=1 wall "
            f"(instant health): {fmt_s(w10)} s vs {fmt_s(w1)} s, × {ratio:.2f}"
            + (f"; drydock's pacing alone needs {fmt_s(instant_requests[10].pacing_floor(limits)[0])} s at N=10 "
               f"({instant_requests[10].pacing_floor(limits)[1]})"
               if ratio > TARGET_WALL_RATIO and instant_requests[10].pacing_floor(limits)[0] > 0 else "")
        )
    else:
        w("- not measured: N=10 wall ≤ 2 × N=1 wall (give --sizes with 1 and 10)")
    print("\n".join(out))


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Fail as e:
        print(f"bench-deploy: FAILED: {e}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
