#!/usr/bin/env bash
# Builds the real Kubernetes and storage components our tests run against, from their Go modules at
# the versions pinned in hack/tools/<tool>/go.mod, into a cache this project owns:
#
#   ${KMESH_TOOLS_DIR:-~/.cache/kmesh/tools}/<tool>-<version>/<binary>
#
# and links every binary into hack/bin/ (git-ignored), where the tests look for them.
# A binary is rebuilt only when its tool's go.mod/go.sum (or the wrapper's own Go files), the Go version
# or this script's build flags change (each binary has its own stamp, so adding one builds only that
# one); a warm run takes seconds.
#
# Usage: hack/build-tools.sh [tool...]     (default: every tool)
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
tools_src="$repo/hack/tools"
cache_root=${KMESH_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kmesh/tools}
bin_links="$repo/hack/bin"

die() { printf 'build-tools: %s\n' "$*" >&2; exit 1; }
say() { printf '[build-tools] %s\n' "$*"; }

# tool | main module (its version names the cache dir) | binaries as name=package, or name=test:package
# for a test binary (`go test -c`; `.` is the wrapper module's own tests)
TOOLS=(
  "etcd|go.etcd.io/etcd/server/v3|etcd=go.etcd.io/etcd/server/v3"
  "kubernetes|k8s.io/kubernetes|kube-apiserver=k8s.io/kubernetes/cmd/kube-apiserver kube-controller-manager=k8s.io/kubernetes/cmd/kube-controller-manager kubectl=k8s.io/kubernetes/cmd/kubectl kube-scheduler=k8s.io/kubernetes/cmd/kube-scheduler kubelet=k8s.io/kubernetes/cmd/kubelet kube-proxy=k8s.io/kubernetes/cmd/kube-proxy"
  "kubeconform|github.com/yannh/kubeconform|kubeconform=github.com/yannh/kubeconform/cmd/kubeconform"
  "helm|helm.sh/helm/v3|helm=helm.sh/helm/v3/cmd/helm"
  "csi-sanity|github.com/kubernetes-csi/csi-test/v5|csi-sanity=github.com/kubernetes-csi/csi-test/v5/cmd/csi-sanity"
  "versitygw|github.com/versity/versitygw|versitygw=github.com/versity/versitygw/cmd/versitygw"
  # CSI sidecars for the end-to-end cluster; hack/images puts each in its own image.
  "csi-provisioner|github.com/kubernetes-csi/external-provisioner/v6|csi-provisioner=github.com/kubernetes-csi/external-provisioner/v6/cmd/csi-provisioner"
  "csi-snapshotter|github.com/kubernetes-csi/external-snapshotter/v8|csi-snapshotter=github.com/kubernetes-csi/external-snapshotter/v8/cmd/csi-snapshotter snapshot-controller=github.com/kubernetes-csi/external-snapshotter/v8/cmd/snapshot-controller"
  "csi-resizer|github.com/kubernetes-csi/external-resizer/v2|csi-resizer=github.com/kubernetes-csi/external-resizer/v2/cmd/csi-resizer"
  # The reference FUSE file system of the benchmarks, and go-fuse's POSIX tests against a mounted
  # directory (hack/tools/go-fuse/posixtest_test.go).
  "go-fuse|github.com/hanwen/go-fuse/v2|go-fuse-loopback=github.com/hanwen/go-fuse/v2/example/loopback fuse-posixtest=test:."
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
    csi-*) printf -- '-X main.version=%s ' "$version" ;;
  esac
  printf -- '-s -w'
}

# The CSI sidecars go into from-scratch images, so they must not need the C library.
cgo_for() {
  case $1 in
    csi-*) echo 0 ;;
    *) go env CGO_ENABLED ;;
  esac
}

check_go() {
  command -v go >/dev/null 2>&1 ||
    die "Go is not installed or not on PATH. Install Go >= 1.26 and re-run."
  local v; v=$(go env GOVERSION)
  local minor=${v#go1.}; minor=${minor%%.*}
  [[ $minor =~ ^[0-9]+$ && $minor -ge 26 ]] || die "Go $v is too old; these modules need Go >= 1.26."
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
  local inputs
  local cgo; cgo=$(cgo_for "$tool")
  # The wrapper's own Go files (a test binary's sources) count too; the other wrappers have none.
  inputs=$( {
    cat "$dir/go.mod" "$dir/go.sum"
    find "$dir" -maxdepth 1 -name '*.go' -print0 | sort -z | xargs -0r cat
    go env GOVERSION; echo "$flags cgo=$cgo"
  } | sha256sum | cut -c1-16)

  mkdir -p "$bin_links" "$out"
  local pair name pkg stamp started downloaded=0 build
  for pair in $binaries; do
    name=${pair%%=*}; pkg=${pair#*=}
    stamp=$(echo "$inputs $pair" | sha256sum | cut -c1-16)
    if [[ -f $out/.stamp-$name && $(cat "$out/.stamp-$name") == "$stamp" && -x $out/$name ]]; then
      say "[$index/$total] $tool $version: $name cached in $out"
      continue
    fi
    if [[ $downloaded == 0 ]]; then
      say "[$index/$total] $tool $version: downloading modules"
      download_modules "$tool"
      downloaded=1
    fi
    rm -f "$out/.stamp-$name"
    started=$SECONDS
    say "[$index/$total] $tool $version: building $name (a first build takes minutes)"
    build=(go build)
    if [[ $pkg == test:* ]]; then build=(go test -c); pkg=${pkg#test:}; fi
    (cd "$dir" && CGO_ENABLED=$cgo "${build[@]}" -trimpath -ldflags "$flags" -o "$out/$name.tmp" "$pkg") ||
      die "building $name from $pkg failed (see the compiler output above)"
    mv -f "$out/$name.tmp" "$out/$name"
    echo "$stamp" >"$out/.stamp-$name"
    say "[$index/$total] $tool $version: built $name in $((SECONDS - started))s"
  done
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
