#!/usr/bin/env python3
"""Benchmark of drydock on the emulator's time model (issue 13, "Show it"; not a test).

The shim runs with `--time-scale S --launch 10 --boot 80 --throttle`: instances boot in
90 AWS s from RunInstances (10 s pending, then 80 s until the service answers), the
ELB's health check (drydock's: every 10 s, 2 to pass) decides InService, and requests are
throttled at AWS's rates on the scaled clock. The best possible blue/green deploy is then
boot + 2 x 10 s = 110 AWS s whatever N (the physical limit). Setup releases are made with
the world paused (S = 0: they are "long done"); then, for each N:

- one process: `deploy --all --parallel N` of N services (warm standby) to a new AMI;
- the same with two more drydock processes deploying N other services each (other
  environments) at the same time, each with its own AWS_ACCESS_KEY_ID;
- warm rollback of one service (limit: one health round, 2 x 10 s, + one poll);
- a never-healthy release at S = 1 with boot 0 (drydock's own durations are real seconds,
  so the fail-early rule is measured where real and AWS seconds agree).

Wall times are reported in AWS seconds (real x S). drydock polls every 10 s / S. Note
that drydock's per-process pacing buckets run on real seconds, so at S > 1 they are S
times stricter than AWS's on the scaled clock: pacing costs S times more AWS seconds than
it would against AWS.

    .venv/bin/python tests/tools/bench_world.py [--scale 1] [--sizes 1,10,50,100]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_deploy import AMI_A, AMI_B, PYTHON, ROOT, SHIM, Emulator, Fail  # noqa: E402

# A third stock AMI of the emulator, for the concurrent run.
AMI_C = "ami-760aaa0f"
POLLS = ("DescribeAutoScalingGroups", "DescribeInstanceHealth")
BOOT_S, LAUNCH_S = 90, 10
LIMIT_S = BOOT_S + 2 * 10
# The world's time scale while measuring (1 during setup, the world being paused).
SCALE = [1.0]


def log(msg: str) -> None:
    print(f"[bench-world] {msg}", file=sys.stderr, flush=True)


class World(Emulator):
    def __init__(self, flags: list[str]) -> None:
        super().__init__()
        self.flags = flags

    def start(self) -> None:
        import re
        import select

        self.proc = subprocess.Popen(
            [str(PYTHON), str(SHIM), "--host", "127.0.0.1", "--port", "0", *self.flags],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            r, _, _ = select.select([self.proc.stdout], [], [], 0.5)
            if r:
                m = re.match(r"READY (\d+)", self.proc.stdout.readline() or "")
                if m:
                    self.url = f"http://127.0.0.1:{m.group(1)}"
                    return
        raise Fail("the emulator did not start")

    def world(self, **kw: object) -> None:
        self.call("POST", "/drydock-shim/world", kw)

    def stats(self) -> dict:
        s = self.call("GET", "/drydock-shim/stats")
        assert isinstance(s, dict)
        return s


def write_env(root: Path, env: str, prefix: str, n: int, grace: str = "5m") -> list[str]:
    (root / "amis").mkdir(parents=True, exist_ok=True)
    (root / "environments").mkdir(exist_ok=True)
    names = [f"{prefix}{i:03d}" for i in range(1, n + 1)]
    text = f'region = "us-east-1"\n[network]\nvpc = "default"\nsubnets = ["default"]\nsecurity_groups = ["default"]\n'
    for s in names:
        text += (
            f'\n[services.{s}]\ninstance_type = "t3.small"\nmin = 1\ndesired = 2\nmax = 4\n'
            f'listener = {{ port = 80, protocol = "HTTP", instance_port = 8080 }}\n'
            f'health_check = "HTTP:8080/health"\nstandby = "warm"\ngrace_period = "{grace}"\n'
        )
    (root / "environments" / f"{env}.toml").write_text(text)
    return names


def spawn(args, emu: Emulator, tree: Path, key: str, cmd: list[str], poll: str, work: Path, label: str):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DRYDOCK_"))}
    env.update(
        AWS_ACCESS_KEY_ID=key, AWS_SECRET_ACCESS_KEY="testing", AWS_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true", AWS_ENDPOINT_URL=emu.url, DRYDOCK_POLL_INTERVAL=poll,
    )
    out = open(work / f"{label}.out", "w")
    err = open(work / f"{label}.err", "w")
    full = [str(args.drydock), "-C", str(tree), "--output", "json", *cmd]
    t0 = time.monotonic()
    proc = subprocess.Popen(full, env=env, stdout=out, stderr=subprocess.PIPE, text=True)

    # Each progress line with the AWS second it was written at (real seconds x the
    # world's scale as the bench set it), to see where a run spends its time.
    def stamp() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            err.write(f"{(time.monotonic() - t0) * SCALE[0]:7.1f} {line}")
        err.close()

    proc.stamper = threading.Thread(target=stamp, daemon=True)  # type: ignore[attr-defined]
    proc.stamper.start()  # type: ignore[attr-defined]
    return proc, t0


def finish(proc, t0: float, work: Path, label: str, want: int = 0) -> tuple[float, int]:
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.monotonic() - t0
    proc.stamper.join(timeout=10)
    code = os.waitstatus_to_exitcode(status)
    if code != want:
        tail = "\n".join((work / f"{label}.err").read_text().splitlines()[-20:])
        raise Fail(f"{label}: exit {code}, wanted {want}\n{tail}")
    return wall, ru.ru_maxrss


def key_stats(before: dict, after: dict, key: str) -> tuple[int, int, int]:
    """(requests excluding polls, polls, throttled) of one access key between two stats."""
    def get(s: dict) -> tuple[int, int, int]:
        c = s.get("clients", {}).get(key, {})
        acts = c.get("actions", {})
        polls = sum(a.get("requests", 0) for n, a in acts.items() if n in POLLS)
        return c.get("requests", 0) - polls, polls, c.get("throttled", 0)
    a, b = get(after), get(before)
    return a[0] - b[0], a[1] - b[1], a[2] - b[2]


def throttled_actions(before: dict, after: dict, key: str) -> dict[str, int]:
    """Which actions of one access key were throttled between two stats."""
    def get(s: dict) -> dict[str, int]:
        acts = s.get("clients", {}).get(key, {}).get("actions", {})
        return {n: a.get("throttled", 0) for n, a in acts.items()}
    a, b = get(after), get(before)
    return {n: t - b.get(n, 0) for n, t in a.items() if t - b.get(n, 0)}


def never_healthy(args, work: Path) -> float:
    """A release that never gets healthy, at S = 1 with boot 0 and a grace period of
    10 s: the seconds until drydock has compensated it (exit 1)."""
    emu = World(["--throttle"])
    emu.start()
    try:
        tree = work / "never"
        write_env(tree, "bench", "svc", 1, grace="10s")
        pr, t0 = spawn(args, emu, tree, "AKNEVER", ["deploy", "--all", "--env", "bench", "--ami", AMI_A], "50ms", work, "nv0")
        finish(pr, t0, work, "nv0")
        emu.world(time_scale=1, boot=0, launch=1)
        emu.call("POST", "/drydock-shim/unhealthy", {"amis": [AMI_B]})
        pr, t0 = spawn(args, emu, tree, "AKNEVER", ["deploy", "--all", "--env", "bench", "--ami", AMI_B,
                       "--health-timeout", "10m"], "10s", work, "nv1")
        never, _ = finish(pr, t0, work, "nv1", want=1)
        log(f"never healthy: failed after {never:.0f} s")
        return never
    finally:
        emu.stop()


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--sizes", default="1,10,50,100")
    p.add_argument("--concurrent-sizes", default="1,10")
    p.add_argument("--skip-never", action="store_true", help="skip the never-healthy case")
    p.add_argument("--dump-requests", action="store_true", help="keep each run's recorded requests in the work dir")
    p.add_argument("--drydock", type=Path, default=ROOT / "target" / "debug" / "drydock")
    args = p.parse_args()
    S = args.scale
    poll = f"{max(10, int(10000 / S))}ms"
    rows, conc_rows = [], []
    work = Path(tempfile.mkdtemp(prefix="drydock-bench-world-"))
    for n in [int(x) for x in args.sizes.split(",")]:
        emu = World(["--throttle"])
        emu.start()
        try:
            tree = work / f"tree{n}"
            write_env(tree, "bench", "svc", n)
            SCALE[0] = 1.0
            others = []
            if str(n) in args.concurrent_sizes.split(","):
                write_env(tree, "otha", "oa", n)
                write_env(tree, "othb", "ob", n)
                others = ["otha", "othb"]
            # Setup with the world paused: v001 of everything, long done.
            for env in ["bench", *others]:
                pr, t0 = spawn(args, emu, tree, f"SETUP{env}", ["deploy", "--all", "--env", env, "--ami", AMI_A,
                               "--parallel", str(n)], "50ms", work, f"setup-{n}-{env}")
                finish(pr, t0, work, f"setup-{n}-{env}")
            # Boot 90 s from RunInstances, as issue 13 counts it: 10 s pending, then 80 s
            # until the service answers.
            emu.world(time_scale=S, boot=BOOT_S - LAUNCH_S, launch=LAUNCH_S)
            SCALE[0] = S
            # One process.
            before = emu.stats()
            pr, t0 = spawn(args, emu, tree, "AKBENCH1", ["deploy", "--all", "--env", "bench", "--ami", AMI_B,
                           "--parallel", str(n)], poll, work, f"one-{n}")
            wall, rss = finish(pr, t0, work, f"one-{n}")
            after = emu.stats()
            if args.dump_requests:
                # Every recorded request (action, name, time) of the run, for a timeline.
                (work / f"requests-{n}.json").write_text(json.dumps(emu.call("GET", "/drydock-shim/requests")))
            req, polls, thr = key_stats(before, after, "AKBENCH1")
            if thr:
                log(f"N={n}: throttled actions: {throttled_actions(before, after, 'AKBENCH1')}")
            rows.append((n, wall * S, req / n, polls, thr, req + polls, rss))
            log(f"N={n}: {wall * S:.1f} AWS s, {req / n:.1f} req/svc, {polls} polls, {thr} throttled, {rss // 1024} MiB")
            # Warm rollback of one service (its v001 is a warm standby now).
            if n == 1:
                pr, t0 = spawn(args, emu, tree, "AKBENCH1", ["rollback", "svc001", "--env", "bench"], poll, work, "rb")
                rb, _ = finish(pr, t0, work, "rb")
                rows.append(("rollback", rb * S))
                log(f"warm rollback: {rb * S:.0f} AWS s")
            # Three processes at once: every service of each gets a new group of a third
            # AMI (a real blue/green, no standby brought back).
            if others:
                before = emu.stats()
                procs = []
                ami3 = AMI_C
                for env, key in [("bench", "AKBENCH1"), ("otha", "AKOTHA"), ("othb", "AKOTHB")]:
                    procs.append((key, *spawn(args, emu, tree, key, ["deploy", "--all", "--env", env, "--ami", ami3,
                                  "--parallel", str(n)], poll, work, f"conc-{n}-{env}"), env))
                res = []
                for key, pr, t0, env in procs:
                    w, r = finish(pr, t0, work, f"conc-{n}-{env}")
                    res.append((key, w, r))
                after = emu.stats()
                tot_req = tot_thr = 0
                for key, w, r in res:
                    q, pl, th = key_stats(before, after, key)
                    if th:
                        log(f"N={n} x3 processes: {key} throttled actions: {throttled_actions(before, after, key)}")
                    tot_req += q + pl
                    tot_thr += th
                    if key == "AKBENCH1":
                        conc_rows.append([n, w * S, q / n, pl, th, r])
                conc_rows[-1] += [tot_req, tot_thr]
                log(f"N={n} x3 processes: {conc_rows[-1]}")
        finally:
            emu.stop()
    never = None if args.skip_never else never_healthy(args, work)
    print(f"Time model: shim --time-scale {S:g} --launch {LAUNCH_S} --boot {BOOT_S - LAUNCH_S} --throttle "
          f"(boot {BOOT_S} s from RunInstances); drydock polls every {poll}; "
          f"limit = boot {BOOT_S} s + 2 x 10 s = {LIMIT_S} AWS s; target 1.10 x (limit + one poll) = "
          f"{1.1 * (LIMIT_S + 10):.0f} s.\n")
    print("| N | wall (AWS s) | limit | ratio | requests/service excl. polls | polls | throttled | peak RSS MiB |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        if r[0] == "rollback":
            continue
        n, w, rq, pl, th, _, rss = r
        print(f"| {n} | {w:.1f} | {LIMIT_S} | {w / LIMIT_S:.2f} | {rq:.1f} | {pl} | {th} | {rss / 1024:.1f} |")
    print("\nWith two more drydock processes (own access keys) deploying N other services each at once:\n")
    print("| N | wall (AWS s) | ratio | requests/service excl. polls | polls | throttled (this process) | peak RSS MiB | requests, all 3 | throttled, all 3 |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n, w, rq, pl, th, rss, tr, tt in conc_rows:
        print(f"| {n} | {w:.1f} | {w / LIMIT_S:.2f} | {rq:.1f} | {pl} | {th} | {rss / 1024:.1f} | {tr} | {tt} ({100 * tt / max(tr, 1):.1f} %) |")
    for r in rows:
        if r[0] == "rollback":
            print(f"\nWarm rollback (N = 1): {r[1]:.0f} AWS s; limit one health round + one poll = 30 s ({r[1] / 30:.2f} x).")
    if never is not None:
        print(f"\nNever-healthy release (S = 1, boot 0, grace 10 s, health timeout 10 m): compensated after {never:.0f} s; "
              f"the rule: every instance fails in the ELB's eyes and is older than grace 10 s + 3 x 10 s, "
              f"+ up to a poll; issue 13's target grace + 3 rounds + 1 poll = 50 s.")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Fail as e:
        log(f"FAILED: {e}")
        sys.exit(1)
