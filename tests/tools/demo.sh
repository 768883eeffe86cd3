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

step "a new www build: bake 1.4.3, then a blue/green deploy (v002 serves before v001 leaves the ELB)"
$drydock -q bake www --image-tag 1.4.3 --env staging
$drydock deploy www --env staging --image-tag 1.4.3

step "the same deploy again: nothing to do"
$drydock --output json deploy www --env staging --image-tag 1.4.3

step "promote / rollback / status / history / routes / gc: not built yet in this version"
set +e
$drydock promote www --from staging --to prod
echo "(exit $?: see README, Status)" >&2
