#!/usr/bin/env bash
# drydock on the emulator's time model (issue 13): wall time in AWS seconds against the
# physical limit (boot 90 s + 2 x 10 s), requests, polls, throttles, peak RSS; with two
# concurrent drydock processes; warm rollback; the never-healthy case. Not a timed test.
# Flags go to tests/tools/bench_world.py (defaults: --scale 1 --sizes 1,10,50,100
# --concurrent-sizes 1,10, the README's numbers). About 25 minutes at scale 1.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -x .venv/bin/python ] || bash tests/moto/venv.sh
cargo build --locked --quiet
exec .venv/bin/python tests/tools/bench_world.py "$@"
