#!/bin/sh
# Installs, from the distribution's packages, what skiff needs on a fresh
# Debian/Ubuntu machine and is missing. Safe to run again: it only installs
# packages that are not installed yet.
set -eu

packages="containerd runc containernetworking-plugins nftables iproute2 busybox-static etcd-server etcd-client ca-certificates"

missing=""
for p in $packages; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done

if [ -z "$missing" ]; then
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages:$missing (run as root to install them)" >&2
	exit 1
fi

echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
# The distribution's etcd starts a system service on install; skiff's tests
# run their own etcd processes, so keep the packaged one stopped.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet etcd 2>/dev/null; then
	systemctl stop etcd || true
	systemctl disable etcd >/dev/null 2>&1 || true
fi
