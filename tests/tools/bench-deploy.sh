#!/usr/bin/env bash
# Benchmark of `drydock deploy --all` for N = 1, 10, 50 services against the local
# emulator (not a timed test): wall time, peak RSS, requests per service and request
# rates per API family; prints a Markdown section for the README. Flags go to
# tests/tools/bench_deploy.py (e.g. --sizes 1,10 --repeats 5). About 2 minutes.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -x .venv/bin/python ] || bash tests/moto/venv.sh
cargo build --locked --quiet
exec .venv/bin/python tests/tools/bench_deploy.py "$@"
