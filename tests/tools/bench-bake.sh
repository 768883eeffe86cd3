#!/usr/bin/env bash
# Benchmark of `drydock bake` against the local emulator (not a timed test): API requests
# and wall time of a fresh bake and of a reuse, over N runs each. The emulator changes
# state at once, so the wall time is drydock's own overhead plus the emulator's, not a
# real instance boot. Numbers go into the README.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${N:-5}
drydock=target/debug/drydock
. tests/tools/emulator.sh
emulator_start
emulator_requests >/dev/null
now() { date +%s.%N; }
fresh_t=(); reuse_t=()
for i in $(seq 1 "$N"); do
  t0=$(now); $drydock -q bake www --image-tag "bench-$i" --env staging >/dev/null; t1=$(now)
  fresh_t+=("$(awk "BEGIN{print $t1 - $t0}")")
  fresh_req=$(emulator_requests)
  t0=$(now); $drydock -q bake www --image-tag "bench-$i" --env staging >/dev/null; t1=$(now)
  reuse_t+=("$(awk "BEGIN{print $t1 - $t0}")")
  reuse_req=$(emulator_requests)
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "bake benchmark, N=$N runs each, debug build, moto $(.venv/bin/python -c 'import moto;print(moto.__version__)'), poll ${DRYDOCK_POLL_MS} ms"
printf '%-8s %10s  %s\n' "case" "median s" "requests (last run)"
printf '%-8s %10s  %s\n' "fresh" "$(median "${fresh_t[@]}")" "$fresh_req"
printf '%-8s %10s  %s\n' "reuse" "$(median "${reuse_t[@]}")" "$reuse_req"
