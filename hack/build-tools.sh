#!/usr/bin/env bash
# Builds the real Kubernetes and storage components our tests run against, from their Go modules at
# the versions pinned in hack/tools/<tool>/go.mod, into a cache this project owns:
#
#   ${KMESH_TOOLS_DIR:-~/.cache/kmesh/tools}/<tool>-<version>/<binary>
#
# and links every binary into hack/bin/ (git-ignored), where the tests look for them.
# A tool is rebuilt only when its go.mod/go.sum, the Go version or this script's build flags change,
# so a second run with a warm cache takes seconds.
#
# Usage: hack/build-tools.sh [tool...]     (default: every tool)
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
tools_src="$repo/hack/tools"
cache_root=${KMESH_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kmesh/tools}
bin_links="$repo/hack/bin"

die() { printf 'build-tools: %s\n' "$*" >&2; exit 1; }
say() { printf '[build-tools] %s\n' "$*"; }

# tool | main module (its version names the cache dir) | binaries as name=package
TOOLS=(
  "etcd|go.etcd.io/etcd/server/v3|etcd=go.etcd.io/etcd/server/v3"
  "kubernetes|k8s.io/kubernetes|kube-apiserver=k8s.io/kubernetes/cmd/kube-apiserver kube-controller-manager=k8s.io/kubernetes/cmd/kube-controller-manager kubectl=k8s.io/kubernetes/cmd/kubectl"
  "kubeconform|github.com/yannh/kubeconform|kubeconform=github.com/yannh/kubeconform/cmd/kubeconform"
  "helm|helm.sh/helm/v3|helm=helm.sh/helm/v3/cmd/helm"
  "csi-sanity|github.com/kubernetes-csi/csi-test/v5|csi-sanity=github.com/kubernetes-csi/csi-test/v5/cmd/csi-sanity"
  "versitygw|github.com/versity/versitygw|versitygw=github.com/versity/versitygw/cmd/versitygw"
)

# Version stamps the binaries carry; without them kube-apiserver reports v0.0.0 and helm "v3.x-dev".
ldflags_for() {
  local tool=$1 version=$2
  case $tool in
    kubernetes)
      local minor=${version#v1.}; minor=${minor%%.*}
      local x
      for x in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        printf -- '-X %s.gitVersion=%s -X %s.gitMajor=1 -X %s.gitMinor=%s -X %s.gitTreeState=clean ' \
          "$x" "$version" "$x" "$x" "$minor" "$x"
      done ;;
    helm) printf -- '-X helm.sh/helm/v3/internal/version.version=%s ' "$version" ;;
  esac
  printf -- '-s -w'
}

check_go() {
  command -v go >/dev/null 2>&1 ||
    die "Go is not installed or not on PATH. Install Go >= 1.25 and re-run."
  local v; v=$(go env GOVERSION)
  local minor=${v#go1.}; minor=${minor%%.*}
  [[ $minor =~ ^[0-9]+$ && $minor -ge 25 ]] || die "Go $v is too old; these modules need Go >= 1.25."
}

# The module proxy is the only network this needs; say so plainly when it is unreachable.
download_modules() {
  local tool=$1 log
  log=$(cd "$tools_src/$tool" && go mod download 2>&1) || {
    printf '%s\n' "$log" | tail -n 5 >&2
    die "could not download the Go modules for $tool: is the Go module proxy reachable (GOPROXY=$(go env GOPROXY))?"
  }
}

build_tool() {
  local index=$1 total=$2 spec=$3
  local tool module binaries
  IFS='|' read -r tool module binaries <<<"$spec"
  local dir="$tools_src/$tool"
  [[ -f $dir/go.mod ]] || die "no wrapper module at $dir"

  # Read from go.mod text, not `go list`, so a warm check needs no network.
  local version
  version=$(awk -v m="$module" '$1 == m { print $2; exit } $1 == "require" && $2 == m { print $3; exit }' "$dir/go.mod")
  [[ -n $version ]] || die "$dir/go.mod does not require $module"
  local flags; flags=$(ldflags_for "$tool" "$version")
  local out="$cache_root/$tool-$version"
  local stamp
  stamp=$( { cat "$dir/go.mod" "$dir/go.sum"; go env GOVERSION; echo "$flags $binaries"; } | sha256sum | cut -c1-16)

  mkdir -p "$bin_links"
  if [[ -f $out/.stamp && $(cat "$out/.stamp") == "$stamp" ]]; then
    say "[$index/$total] $tool $version: cached in $out"
  else
    say "[$index/$total] $tool $version: downloading modules"
    download_modules "$tool"
    local pair name pkg started
    mkdir -p "$out"
    rm -f "$out/.stamp"
    for pair in $binaries; do
      name=${pair%%=*}; pkg=${pair#*=}
      started=$SECONDS
      say "[$index/$total] $tool $version: building $name (first build of this version takes minutes)"
      (cd "$dir" && go build -trimpath -ldflags "$flags" -o "$out/$name.tmp" "$pkg") ||
        die "building $name from $pkg failed (see the compiler output above)"
      mv -f "$out/$name.tmp" "$out/$name"
      say "[$index/$total] $tool $version: built $name in $((SECONDS - started))s"
    done
    echo "$stamp" >"$out/.stamp"
  fi
  for pair in $binaries; do
    ln -sfn "$out/${pair%%=*}" "$bin_links/${pair%%=*}"
  done
}

main() {
  check_go
  local selected=("$@") specs=() spec tool
  for spec in "${TOOLS[@]}"; do
    tool=${spec%%|*}
    if [[ ${#selected[@]} -eq 0 || " ${selected[*]} " == *" $tool "* ]]; then specs+=("$spec"); fi
  done
  [[ ${#specs[@]} -gt 0 ]] || die "unknown tool(s): ${selected[*]}; known: $(printf '%s ' "${TOOLS[@]%%|*}")"
  local i=0 started=$SECONDS
  for spec in "${specs[@]}"; do
    i=$((i + 1))
    build_tool "$i" "${#specs[@]}" "$spec"
  done
  say "done in $((SECONDS - started))s; binaries linked in $bin_links"
}

main "$@"
