# Sourced by the demo and bench scripts: starts the moto fidelity shim on a free loopback
# port and the emulated builder guest, exports AWS_ENDPOINT_URL and dummy credentials,
# and stops both on exit.
emulator_start() {
  local out
  out=$(mktemp)
  .venv/bin/python tests/moto/drydock_moto.py --host 127.0.0.1 --port 0 >"$out" 2>/dev/null &
  EMULATOR_PID=$!
  for _ in $(seq 1 300); do
    grep -q READY "$out" && break
    sleep 0.1
  done
  EMULATOR_PORT=$(awk '/READY/{print $2}' "$out")
  rm -f "$out"
  [ -n "$EMULATOR_PORT" ] || { echo "the emulator did not start" >&2; return 1; }
  export AWS_ENDPOINT_URL="http://127.0.0.1:$EMULATOR_PORT"
  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
  export AWS_EC2_METADATA_DISABLED=true
  # The emulator changes state at once: poll it every 100 ms instead of every 10 s.
  export DRYDOCK_POLL_MS=${DRYDOCK_POLL_MS:-100}
  export DRYDOCK_POLL_INTERVAL=${DRYDOCK_POLL_INTERVAL:-${DRYDOCK_POLL_MS}ms}
  .venv/bin/python tests/tools/fake_guest.py --endpoint "$AWS_ENDPOINT_URL" &
  GUEST_PID=$!
  trap emulator_stop EXIT
}

emulator_stop() {
  kill "${GUEST_PID:-}" "${EMULATOR_PID:-}" 2>/dev/null || true
  wait 2>/dev/null || true
}

# drydock's requests (not the guest's) that the emulator has seen, as "service:Action count" lines; then clears them.
emulator_requests() {
  curl -s "$AWS_ENDPOINT_URL/drydock-shim/requests" | .venv/bin/python -c '
import collections, json, sys
c = collections.Counter(r["service"] + ":" + r["action"] for r in json.load(sys.stdin) if r.get("client") == "drydock")
print(sum(c.values()), " ".join(k + "=" + str(v) for k, v in sorted(c.items())))'
  curl -s -X DELETE "$AWS_ENDPOINT_URL/drydock-shim/requests" >/dev/null
}
