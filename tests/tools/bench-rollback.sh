#!/usr/bin/env bash
# Benchmark of a warm rollback against the local emulator (not a timed test): requests
# (drydock's only) and wall time of `drydock rollback www --env staging` from a warm
# standby, median of N runs. Target: no instance launched, done within one poll interval
# of the ELB reporting the standby's instances InService.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${N:-5}
drydock=target/debug/drydock
. tests/tools/emulator.sh
emulator_start
$drydock -q bake www --image-tag r1 --env staging >/dev/null
$drydock -q bake www --image-tag r2 --env staging >/dev/null
$drydock -q deploy www --env staging --image-tag r1 >/dev/null
$drydock -q deploy www --env staging --image-tag r2 >/dev/null
times=(); reqs=""
for i in $(seq 1 "$N"); do
  emulator_requests >/dev/null
  # Named: a plain rollback right after a rollback is a no-op (a retried job must not go
  # further back), so each run names the other release.
  to=$([ $((i % 2)) = 1 ] && echo v001 || echo v002)
  t0=$(date +%s.%N); $drydock -q rollback www --env staging --to "$to" >/dev/null; t1=$(date +%s.%N)
  times+=("$(awk "BEGIN{print $t1 - $t0}")")
  reqs=$(emulator_requests)
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "warm rollback, N=$N runs (each rolls back to the other release), debug build, poll ${DRYDOCK_POLL_MS} ms"
echo "median wall: $(median "${times[@]}") s"
echo "requests (last run): $reqs"
case "$reqs" in *RunInstances*|*CreateAutoScalingGroup*) echo "FAIL: an instance or group was launched";; *) echo "PASS: no instance launched";; esac
