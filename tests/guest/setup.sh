#!/usr/bin/env bash
# What the real guest needs on the host (Debian 12, as root), installed only when missing:
# mmdebstrap (the base root filesystem), systemd-container (systemd-nspawn), docker-registry
# (the image's registry), busybox-static (the image), openssl (the registry's CA), iproute2
# (the network namespace), util-linux (nsenter), procps (ps).
set -euo pipefail
need=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ] || [ -x "/bin/$1" ]; }
have mmdebstrap || need+=(mmdebstrap)
have systemd-nspawn || need+=(systemd-container)
have docker-registry || need+=(docker-registry)
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
have openssl || need+=(openssl)
have ip || need+=(iproute2)
have nsenter || need+=(util-linux)
have ps || need+=(procps)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "test-guest: FAILED: install ${need[*]} (Debian: apt-get install ${need[*]})" >&2
    exit 1
  fi
  echo "test-guest: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi
