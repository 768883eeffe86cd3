#!/usr/bin/env bash
# A canary deploy (hold 5 m) on the emulator's time model at scale 1 (issue #17): wall
# time against (boot + health) + hold + (boot + health) + one poll. ~9 minutes, mostly
# waiting. Flags go to tests/tools/bench_canary.py (e.g. --hold 30s).
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -x .venv/bin/python ] || bash tests/moto/venv.sh
cargo build --locked --quiet
exec .venv/bin/python tests/tools/bench_canary.py "$@"
