"""The builder guest, played for the demo and the benchmarks (moto cannot boot an AMI).

Watches the emulator for running drydock builders; for each one it reads the user data
back, checks it as a real guest would run it (`bash -n`, the pinned `docker pull`, the
init job), then powers the instance off (StopInstances: success). With --fail it
terminates the instance instead (a failed bootstrap). Runs until killed.

    .venv/bin/python tests/tools/fake_guest.py --endpoint http://127.0.0.1:PORT
"""

import argparse
import base64
import re
import subprocess
import sys
import time

import boto3


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--fail", action="store_true", help="terminate instead of powering off")
    ap.add_argument("--interval", type=float, default=0.05)
    args = ap.parse_args()
    ec2 = boto3.client(
        "ec2",
        endpoint_url=args.endpoint,
        region_name=args.region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    seen = set()
    while True:
        out = ec2.describe_instances(
            Filters=[
                {"Name": "tag:drydock:role", "Values": ["builder"]},
                {"Name": "instance-state-name", "Values": ["pending", "running"]},
            ]
        )
        for res in out["Reservations"]:
            for inst in res["Instances"]:
                iid = inst["InstanceId"]
                if iid in seen:
                    continue
                seen.add(iid)
                handle(ec2, iid, args.fail)
        time.sleep(args.interval)


def handle(ec2, iid: str, fail: bool) -> None:
    ud = ec2.describe_instance_attribute(InstanceId=iid, Attribute="userData")
    script = base64.b64decode(ud["UserData"]["Value"]).decode()
    ok = subprocess.run(["bash", "-n"], input=script.encode(), capture_output=True)
    pull = re.search(r"^docker pull (\S+)$", script, re.M)
    job = re.search(r"^cat > (/etc/\S+) <<'DRYDOCK_EOF'$", script, re.M | re.S)
    problems = []
    if ok.returncode != 0:
        problems.append("bash -n: " + ok.stderr.decode().strip())
    if not pull:
        problems.append("no docker pull")
    jobs = re.findall(r"^cat > (/etc/(?:init|systemd)/\S+) <<'DRYDOCK_EOF'$", script, re.M)
    if not jobs:
        problems.append("no init job")
    if problems or fail:
        print(f"guest {iid}: failing ({'; '.join(problems) or '--fail'}): terminating", file=sys.stderr, flush=True)
        ec2.terminate_instances(InstanceIds=[iid])
        return
    print(
        f"guest {iid}: bootstrap parses, pulls {pull.group(1)}, installs {jobs[0]}; powering off",
        file=sys.stderr,
        flush=True,
    )
    ec2.stop_instances(InstanceIds=[iid])


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(0)
