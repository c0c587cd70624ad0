#!/usr/bin/env bash
# Installs what the single-node cluster (`npm run demo`, `npm run cluster:up`, the end-to-end test
# of `npm test`) needs from the machine and npm cannot bring: image builds (buildah), the container
# runtime (containerd, runc), the pod network (CNI plugins, iptables) and kube-proxy's conntrack.
# The npm scripts that need them run this first; .ci/run gets it through `npm test`.
#
# Idempotent: installed packages are left alone, so a warm run costs a few dpkg-query calls.
# Installing needs root and Debian's package archive; without root it names what to install and
# fails, before anything else runs.
#
# Usage: hack/setup-host.sh
set -euo pipefail

PACKAGES=(buildah containerd runc containernetworking-plugins conntrack iptables)
say() { printf '[setup-host] %s\n' "$*"; }
die() { printf 'setup-host: %s\n' "$*" >&2; exit 1; }

if ! command -v dpkg-query >/dev/null; then
  # Not Debian: accept the machine if the programs are there, however they were installed.
  absent=()
  for program in buildah containerd runc conntrack iptables; do command -v "$program" >/dev/null || absent+=("$program"); done
  [[ -x /usr/lib/cni/bridge ]] || absent+=("CNI plugins in /usr/lib/cni")
  [[ ${#absent[@]} -eq 0 ]] && exit 0
  die "the single-node cluster needs ${absent[*]}; this is not a Debian system, so install them yourself (Debian packages: ${PACKAGES[*]})"
fi

missing=()
for package in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -ne 0 ]]; then
  die "the single-node cluster needs these Debian packages, which are not installed: ${missing[*]}
  install them as root, then run this command again:
    sudo apt-get install -y --no-install-recommends ${missing[*]}
  (the cluster itself needs root too)"
fi

started=$SECONDS
say "installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# The package lists may be missing or stale on a fresh machine: update once, only if needed.
apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null ||
  { apt-get update >/dev/null && apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null; } ||
  die "apt-get could not install ${missing[*]} (see its errors above); install them, then run this command again"
say "installed in $((SECONDS - started))s"
