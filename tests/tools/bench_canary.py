#!/usr/bin/env python3
"""Benchmark of a canary deploy on the emulator's time model (issue #17; not a test).

One service (t3.small, desired 2, warm standby) with `canary = { instances = 1, hold =
HOLD }` and one CloudWatch alarm (OK). v001 is made with the world paused; then, at
`--time-scale 1` (drydock's hold is measured in real seconds, so real and AWS seconds
must agree), `drydock deploy` of a new AMI with a 10 s poll, as against AWS. The limit:

    (boot 90 s + 2 x 10 s health)   the canary gets InService
  + hold                           watched every poll
  + (boot 90 s + 2 x 10 s health)   the rest scales up and gets InService
  + one poll (10 s)

    .venv/bin/python tests/tools/bench_canary.py [--hold 5m]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_deploy import AMI_A, AMI_B, ROOT, Fail  # noqa: E402
from bench_world import World, finish, key_stats, log, spawn, write_env  # noqa: E402

ROUND_S = 90 + 2 * 10
POLL_S = 10


def seconds(d: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600}
    return int(d[:-1]) * units[d[-1]]


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--hold", default="5m")
    p.add_argument("--drydock", type=Path, default=ROOT / "target" / "debug" / "drydock")
    args = p.parse_args()
    hold_s = seconds(args.hold)
    work = Path(tempfile.mkdtemp(prefix="drydock-bench-canary-"))
    emu = World(["--throttle"])
    emu.start()
    try:
        tree = work / "tree"
        write_env(tree, "bench", "svc", 1)
        env_file = tree / "environments" / "bench.toml"
        env_file.write_text(
            env_file.read_text()
            + f'canary = {{ instances = 1, hold = "{args.hold}" }}\nalarms = ["svc001-bench-5xx"]\n'
        )
        cw = boto3.client("cloudwatch", endpoint_url=emu.url, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
        cw.put_metric_alarm(
            AlarmName="svc001-bench-5xx", Namespace="AWS/ELB", MetricName="HTTPCode_Backend_5XX",
            Dimensions=[{"Name": "LoadBalancerName", "Value": "svc001-bench"}], Statistic="Sum",
            Period=60, EvaluationPeriods=1, Threshold=10, ComparisonOperator="GreaterThanThreshold",
        )
        cw.set_alarm_state(AlarmName="svc001-bench-5xx", StateValue="OK", StateReason="bench")
        pr, t0 = spawn(args, emu, tree, "SETUP", ["deploy", "--all", "--env", "bench", "--ami", AMI_A], "50ms", work, "setup")
        finish(pr, t0, work, "setup")
        # Boot 90 s from RunInstances, as bench_world counts it: 10 s pending + 80 s.
        emu.world(time_scale=1, boot=80, launch=10)
        before = emu.stats()
        pr, t0 = spawn(args, emu, tree, "AKCANARY", ["deploy", "--all", "--env", "bench", "--ami", AMI_B],
                       f"{POLL_S}s", work, "canary")
        wall, rss = finish(pr, t0, work, "canary")
        req, polls, thr = key_stats(before, emu.stats(), "AKCANARY")
        alarms = emu.stats().get("clients", {}).get("AKCANARY", {}).get("actions", {}).get("DescribeAlarms", {})
        limit = ROUND_S + hold_s + ROUND_S + POLL_S
        log(f"canary deploy: {wall:.0f} s, limit {limit} s")
        print(f"Time model: shim --time-scale 1 --launch 10 --boot 80 --throttle (boot 90 s from RunInstances); "
              f"drydock polls every {POLL_S} s; "
              f"canary 1 of 3 instances, hold {args.hold}.\n")
        print("| case | wall s | limit s | ratio | requests excl. polls | polls | DescribeAlarms | throttled | peak RSS MiB |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        print(f"| canary deploy, hold {args.hold} | {wall:.0f} | {limit} | {wall / limit:.2f} | {req} | {polls} | "
              f"{alarms.get('requests', 0)} | {thr} | {rss / 1024:.1f} |")
        print(f"\nlimit = (boot 90 + 2 x 10) + hold {hold_s} + (boot 90 + 2 x 10) + one poll {POLL_S} = {limit} s")
    finally:
        emu.stop()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Fail as e:
        log(f"FAILED: {e}")
        sys.exit(1)
