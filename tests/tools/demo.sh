#!/usr/bin/env bash
# `make demo`: the drydock workflow on the example tree, against a local AWS emulator
# (moto through the fidelity shim) with an emulated builder guest. It grows with each
# command until it runs bake → deploy staging → promote → rollback → routes.
set -euo pipefail
cd "$(dirname "$0")/../.."
drydock=target/debug/drydock
if [ -t 2 ] && [ -z "${NO_COLOR:-}" ]; then
  step() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }
else
  step() { printf '\n== %s\n' "$*" >&2; }
fi

step "drydock check: validate amis/ and environments/, render every job and route, bash -n, nginx -t"
$drydock check

step "drydock render init www --image-tag 1.4.2 (the job and the builder's bootstrap)"
$drydock render init www --image-tag 1.4.2 | sed -n '1,25p'
echo "…" >&2

. tests/tools/emulator.sh
emulator_start
step "local AWS emulator on $AWS_ENDPOINT_URL; an emulated guest powers builders off"

for service in www imageresize bookmarks; do
  step "drydock bake $service --image-tag 1.4.2 --env staging"
  ami=$($drydock bake "$service" --image-tag 1.4.2 --env staging --build-url "https://jenkins.example.com/job/$service/42/")
  echo "$service: $ami"
done

step "drydock bake www --image-tag 1.4.2 --env staging, again: the same recipe is reused"
$drydock --output json bake www --image-tag 1.4.2 --env staging

step "drydock deploy --all --env staging --image-tag 1.4.2: the first release of every service"
$drydock deploy --all --env staging --image-tag 1.4.2

step "CloudWatch alarm www-prod-5xx on ELB www-prod's backend 5xx count: prod's www watches it (alarm gate, canary hold, bake time)"
.venv/bin/python - <<'PY'
import os

import boto3

cw = boto3.client("cloudwatch", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-east-1")
cw.put_metric_alarm(
    AlarmName="www-prod-5xx",
    Namespace="AWS/ELB",
    MetricName="HTTPCode_Backend_5XX",
    Dimensions=[{"Name": "LoadBalancerName", "Value": "www-prod"}],
    Statistic="Sum",
    Period=60,
    EvaluationPeriods=1,
    Threshold=10,
    ComparisonOperator="GreaterThanThreshold",
    TreatMissingData="notBreaching",
)
cw.set_alarm_state(AlarmName="www-prod-5xx", StateValue="OK", StateReason="demo: no 5xx")
alarm = cw.describe_alarms(AlarmNames=["www-prod-5xx"])["MetricAlarms"][0]
print(f"alarm {alarm['AlarmName']}: {alarm['StateValue']}")
PY

step "drydock promote www imageresize bookmarks --from staging --to prod: the AMIs QA passed, unchanged"
$drydock promote www imageresize bookmarks --from staging --to prod

step "a new www build: bake 1.4.3, deploy it to staging blue/green (v002 serves before v001 leaves the ELB)"
$drydock -q bake www --image-tag 1.4.3 --env staging --build-url https://jenkins.example.com/job/www/43/
$drydock deploy www --env staging --image-tag 1.4.3

step "the same deploy again: nothing to do"
$drydock --output json deploy www --env staging --image-tag 1.4.3

# prod's www holds its canary 5 minutes and bakes 10: the demo runs a copy of the tree
# with 5 s each, so that it stays short.
demo_tree=.tmp/demo/tree
rm -rf "$demo_tree" && mkdir -p "$demo_tree"
cp -r amis environments upstart nginx "$demo_tree"/
sed -i 's/hold = "5m"/hold = "5s"/; s/bake_time = "10m"/bake_time = "5s"/' "$demo_tree/environments/prod.toml"

step "promote www 1.4.3 to prod, with a dry run first: a canary (1 of 5 instances) held while www-prod-5xx is watched, then the switch and a bake time (hold and bake shortened to 5 s for the demo)"
$drydock -C "$demo_tree" promote www --from staging --to prod --dry-run
$drydock -C "$demo_tree" promote www --from staging --to prod

step "drydock status"
$drydock status

step "1.4.3 misbehaves in prod: drydock rollback www --env prod (the warm standby is back in seconds)"
$drydock rollback www --env prod

step "drydock history www --env prod"
$drydock history www --env prod

mkdir -p .tmp/demo
step "drydock routes --env staging / prod --out .tmp/demo/*.conf --check (nginx -t)"
$drydock routes --env staging --out .tmp/demo/staging.conf --check
$drydock routes --env prod --out .tmp/demo/prod.conf --check
sed -n '/location \/api/,/^    }/p' .tmp/demo/prod.conf
$drydock routes --env prod --out .tmp/demo/prod.conf --check

step "drydock gc --env staging --dry-run: what collection would do"
$drydock gc --env staging --dry-run

step "drydock iam-policy (first lines)"
$drydock iam-policy | head -n 12
echo "…" >&2
