#!/usr/bin/env bash
# The real guest (`make test-guest`): drydock bakes on a real Debian 12 machine booted with
# systemd-nspawn and deploys the AMI. Needs root; installs what it needs (setup.sh), builds
# or reuses the base root filesystem (.tmp/guest/rootfs, keyed by rootfs.sh's hash), then
# runs tests/guest/test_guest.py inside a network namespace of its own, where 127.0.0.1 is
# the registry, the AWS emulator and the guests (169.254.169.254 their metadata service,
# 127.0.0.2 AWS's regional endpoints). It never skips: a machine that cannot run
# it fails the run and says why.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
if [ "$(id -u)" != 0 ]; then
  echo "test-guest: FAILED: must run as root (systemd-nspawn, network namespaces, docker)" >&2
  exit 1
fi
bash tests/guest/setup.sh
started=$(date +%s)
base=$root/.tmp/guest
rootfs=$(bash tests/guest/rootfs.sh "$base")
rootfs_s=$(($(date +%s) - started))
drydock=${DRYDOCK_BIN:-$root/target/debug/drydock}
[ -x "$drydock" ] || { echo "test-guest: FAILED: $drydock is not built (cargo build)" >&2; exit 1; }

# The machines' disks live in a tmpfs: copying a disk takes a second, and dropping them
# all is one umount (deleting 2 GB of small files from this disk takes minutes).
work=$base/run
! mountpoint -q "$work" || umount "$work"
rm -rf "$work" "$base/last-run"
mkdir -p "$work"
mount -t tmpfs -o size=8g,mode=0755 drydock-guest "$work"
ns=drydock-guest-$$
cleanup() {
  # Whatever still runs in our namespace (guests, registry, emulator) is ours: stop it.
  local pids
  pids=$(ip netns pids "$ns" 2>/dev/null || true)
  [ -z "$pids" ] || kill -9 $pids 2>/dev/null || true
  ip netns delete "$ns" 2>/dev/null || true
  # Keep the logs and the consoles (not the disks) for a look afterwards.
  mkdir -p "$base/last-run"
  cp "$work"/*.log "$work"/timings.json "$base/last-run/" 2>/dev/null || true
  for c in "$work"/instances/*/console.log; do
    [ -f "$c" ] && cp "$c" "$base/last-run/console-$(basename "$(dirname "$c")").log"
  done
  umount "$work" 2>/dev/null || umount -l "$work" 2>/dev/null || true
}
trap cleanup EXIT
ip netns add "$ns"
ip -n "$ns" link set lo up
# EC2's metadata address, where tests/guest/metadata.py serves the guests' IMDS.
ip -n "$ns" addr add 169.254.169.254/32 dev lo

# nsenter, not `ip netns exec`: that one remounts /sys, hiding the cgroup hierarchies
# that systemd-nspawn needs.
set +e
GUEST_NETNS=$ns GUEST_ROOTFS=$rootfs GUEST_WORK=$work DRYDOCK_BIN=$drydock \
  nsenter --net="/run/netns/$ns" "$root/.venv/bin/python" -m pytest tests/guest -q -p no:cacheprovider
rc=$?
set -e
echo "test-guest: base root filesystem ${rootfs_s} s; total $(($(date +%s) - started)) s; $(cat "$work/timings.json" 2>/dev/null | tr -d '\n ')" >&2
if [ $rc != 0 ]; then
  echo "test-guest: FAILED (logs and consoles: $base/last-run/)" >&2
fi
exit $rc
