#!/usr/bin/env bash
# `make demo`: the drydock workflow on the example tree. At this stage of the project it
# validates the tree and renders every artifact offline; each later feature extends it
# until it runs bake → deploy staging → promote → rollback → routes on the emulator.
set -euo pipefail
cd "$(dirname "$0")/../.."
drydock=target/debug/drydock
step() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }
[ -n "${NO_COLOR:-}" ] || [ ! -t 2 ] && step() { printf '\n== %s\n' "$*" >&2; }

step "drydock check: validate amis/ and environments/, render every job and route, nginx -t"
$drydock check

for service in www imageresize bookmarks; do
  step "drydock render init $service --image-tag 1.4.2"
  $drydock render init "$service" --image-tag 1.4.2 | head -n 40
  echo "…" >&2
done

step "drydock bake / deploy / promote / rollback / routes: not built yet in this version"
set +e
$drydock deploy www --env staging --image-tag 1.4.2
echo "(exit $?: see README, Status)" >&2
