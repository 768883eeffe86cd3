#!/usr/bin/env bash
# Create/refresh the project-local virtualenv <repo>/.venv used by the moto
# fidelity shim (tests/moto/drydock_moto.py) and its tests.
#
# Idempotent: does nothing (and prints nothing) when .venv already has moto
# 5.2.5 and was installed from the current requirements.txt.  Otherwise it
# creates .venv if needed and pip-installs requirements.txt quietly, printing
# one line to stderr.  Never uses a globally installed moto.
#
# Environment: PYTHON (default python3) picks the interpreter for a new venv.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="$repo/.venv"
req="$here/requirements.txt"
stamp="$venv/.drydock-moto-requirements"
want_moto="5.2.5"
python="${PYTHON:-python3}"

# Serialise concurrent runs (e.g. parallel make targets) on this script file.
if command -v flock >/dev/null 2>&1; then
    exec 9<"${BASH_SOURCE[0]}"
    flock 9
fi

req_sum="$(cksum <"$req")"

venv_ok() {
    [ -x "$venv/bin/python" ] || return 1
    "$venv/bin/python" - "$want_moto" <<'PY' >/dev/null 2>&1 || return 1
import sys
from importlib.metadata import version
sys.exit(0 if version("moto") == sys.argv[1] else 1)
PY
    [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$req_sum" ]
}

if venv_ok; then
    exit 0
fi

# (Re)create the venv when it is missing or its interpreter no longer runs.
if ! { [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; }; then
    if ! command -v "$python" >/dev/null 2>&1; then
        echo "venv.sh: $python not found; install Python 3 (apt-get install python3 python3-venv)" >&2
        exit 1
    fi
    rm -rf "$venv"
    if ! out="$("$python" -m venv "$venv" 2>&1)" || [ ! -x "$venv/bin/pip" ]; then
        rm -rf "$venv"
        printf '%s\n' "$out" >&2
        echo "venv.sh: '$python -m venv' failed; on Debian/Ubuntu run: apt-get install python3-venv" >&2
        exit 1
    fi
fi

echo "venv.sh: installing tests/moto/requirements.txt into $venv" >&2
rm -f "$stamp"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
if ! venv_ok_moto="$("$venv/bin/python" -c 'from importlib.metadata import version; print(version("moto"))' 2>/dev/null)" \
    || [ "$venv_ok_moto" != "$want_moto" ]; then
    echo "venv.sh: moto $want_moto not importable from $venv after install" >&2
    exit 1
fi
printf '%s\n' "$req_sum" >"$stamp"
