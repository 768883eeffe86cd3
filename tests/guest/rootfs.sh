#!/usr/bin/env bash
# The "base AMI" of the real guest: a Debian 12 root filesystem with systemd, cloud-init,
# curl and the AWS CLI (Debian's awscli, as a Debian cloud image or Amazon Linux has them:
# the init job reads the service's secrets with it) but no docker, whose apt cache already holds docker.io and everything it pulls in, so that
# the bootstrap's own `apt-get update && apt-get install docker.io` works with no network.
#
#   bash tests/guest/rootfs.sh DIR      # prints DIR/rootfs when it is ready
#
# Made with mmdebstrap from the apt mirror the host uses, once: DIR/rootfs is kept, keyed by
# the hash of this script (DIR/rootfs.key), so later runs reuse it in no time. Everything
# that a real base AMI would not have is left out; what only the test world needs (its
# registry's CA and name, the NoCloud seed) is added per instance by the guest driver.
set -euo pipefail
dir=${1:?usage: rootfs.sh DIR}
here=$(cd "$(dirname "$0")" && pwd)
key=$(sha256sum "$here/rootfs.sh" | cut -c1-16)
mkdir -p "$dir"
if [ -f "$dir/rootfs.key" ] && [ "$(cat "$dir/rootfs.key")" = "$key" ] && [ -x "$dir/rootfs/sbin/init" ]; then
  echo "$dir/rootfs"
  exit 0
fi

# The host's own apt sources: the guest sees the same mirror (the only network there is).
sources=/etc/apt/sources.list.d/debian.sources
[ -f "$sources" ] || sources=/etc/apt/sources.list
rm -rf "$dir/rootfs.new" "$dir/rootfs" "$dir/rootfs.key"
started=$(date +%s)
echo "guest: building the base root filesystem (Debian 12, systemd, cloud-init) in $dir/rootfs" >&2
mmdebstrap --quiet --mode=root --variant=minbase \
  --include=systemd,systemd-sysv,dbus,cloud-init,iproute2,ca-certificates,curl,awscli \
  --skip=cleanup/apt \
  --customize-hook='chroot "$1" apt-get install --download-only -y -q -o APT::Install-Recommends=true docker.io >/dev/null' \
  --customize-hook='echo drydock-base > "$1/etc/hostname"' \
  --customize-hook='ln -sf /dev/null "$1/etc/systemd/system/console-getty.service"' \
  --customize-hook='ln -sf /dev/null "$1/etc/systemd/system/systemd-networkd-wait-online.service"' \
  --customize-hook='printf "%s\n" "datasource_list: [ NoCloud, None ]" "network: {config: disabled}" > "$1/etc/cloud/cloud.cfg.d/90-drydock-guest.cfg"' \
  bookworm "$dir/rootfs.new" "$sources"
mv "$dir/rootfs.new" "$dir/rootfs"
echo "$key" >"$dir/rootfs.key"
echo "guest: base root filesystem ready in $(($(date +%s) - started)) s ($(du -sh "$dir/rootfs" | cut -f1))" >&2
echo "$dir/rootfs"
