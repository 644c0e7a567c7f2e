#!/usr/bin/env bash
# k8s-build.sh builds the Kubernetes binaries of the local test cluster from
# the Go module proxy (tools/k8s is the wrapper module that pins the release)
# into $K8S_DIR/bin (default <repo>/.toolchain/k8s/bin):
#
#   kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy
#   kubectl
#   (kube-proxy: in-cluster clients reach the API server through the
#   kubernetes Service; kubectl: a machine's own kubectl may be outside the
#   version skew)
#   hostpath-provisioner, cri-reset (tools/k8s/cmd/...)
#
# The build is keyed on a stamp of its inputs (tools/k8s/go.mod, go.sum, the
# module's own sources, this script and the Go version), so a second run with
# nothing changed does nothing and takes well under a second; a fresh
# clone on a machine that built the same set before copies it from the
# machine cache (below) in seconds. Called by
# scripts/k8s-up.sh; usable alone.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=${K8S_DIR:-$repo/.toolchain/k8s}
mod=$repo/tools/k8s
bin=$dir/bin

log() { printf 'k8s-build: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

command -v go >/dev/null || die "go not found in PATH"
export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0

# Kubernetes 1.34 needs Go 1.24 or newer.
gov=$(go env GOVERSION)
gov=${gov#go}
if [[ "$(printf '%s\n%s\n' 1.24 "$gov" | sort -V | head -n1)" != 1.24 ]]; then
	die "go $gov is too old: Kubernetes 1.34 needs go 1.24 or newer"
fi

mkdir -p "$bin" "$dir/stamps"

# The release comes from the wrapper module's require line.
kver=$(cd "$mod" && go list -m -f '{{.Version}}' k8s.io/kubernetes)
[[ -n "$kver" ]] || die "tools/k8s/go.mod does not require k8s.io/kubernetes"

key=$({
	cat "$mod/go.mod" "$mod/go.sum" "${BASH_SOURCE[0]}"
	find "$mod" -name '*.go' -not -name '*_test.go' | LC_ALL=C sort | xargs cat
	echo "$gov"
} | sha256sum | cut -d' ' -f1)

cache_root=${K8S_BUILD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/opencoder/k8s-bin}
# fill_cache keeps a copy of the built set in the machine cache (replacing
# any older set there).
fill_cache() {
	[[ "$cache_root" != off && ! -d "$cache_root/$key" ]] || return 0
	if mkdir -p "$cache_root/.tmp-$$" && cp -f "${bins[@]/#/$bin/}" "$cache_root/.tmp-$$/" &&
		find "$cache_root" -mindepth 1 -maxdepth 1 -not -name ".tmp-$$" -exec rm -rf {} + &&
		mv "$cache_root/.tmp-$$" "$cache_root/$key"; then
		log "kept a copy in the machine cache $cache_root/$key"
	else
		rm -rf "$cache_root/.tmp-$$"
		log "warning: could not fill the machine cache $cache_root"
	fi
}

bins=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl hostpath-provisioner cri-reset)
have=
[[ -f "$dir/stamps/build" ]] && read -r have <"$dir/stamps/build"
if [[ "$have" == "$key" ]]; then
	ok=1
	for b in "${bins[@]}"; do [[ -x "$bin/$b" ]] || ok=; done
	if [[ -n "$ok" ]]; then
		log "binaries up to date ($kver) in $bin"
		fill_cache
		exit 0
	fi
fi

# A machine-wide cache of built sets, keyed like the stamp, outlives the
# clone: CI's fresh clone on a machine that built this set before copies it
# in seconds instead of rebuilding (K8S_BUILD_CACHE=off disables it). Only
# the newest set is kept.
if [[ "$cache_root" != off && -d "$cache_root/$key" ]]; then
	ok=1
	for b in "${bins[@]}"; do [[ -x "$cache_root/$key/$b" ]] || ok=; done
	if [[ -n "$ok" ]]; then
		for b in "${bins[@]}"; do cp -f "$cache_root/$key/$b" "$bin/$b.tmp" && mv -f "$bin/$b.tmp" "$bin/$b"; done
		printf '%s\n' "$key" >"$dir/stamps/build"
		log "binaries ($kver) copied from the machine cache $cache_root/$key"
		exit 0
	fi
fi

# Version stamps, as the release build sets them, so the API server reports
# the real version (kubectl's skew warning, node versions) instead of v0.0.0.
minor=${kver#v1.}
minor=${minor%%.*}
vpkgs=(k8s.io/component-base/version k8s.io/client-go/pkg/version)
ldflags="-s -w"
for p in "${vpkgs[@]}"; do
	ldflags+=" -X $p.gitVersion=$kver -X $p.gitMajor=1 -X $p.gitMinor=$minor"
	ldflags+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
done

cd "$mod"
start=$(date +%s)
log "downloading modules for k8s.io/kubernetes $kver (about 300 MB the first time)"
go mod download
log "building ${bins[*]} ($kver) into $bin; 10-25 min cold on 2 cores"
# go build prints nothing while it compiles ~2,200 packages; a heartbeat
# shows it is alive.
(
	while sleep 60; do log "still building ($(($(date +%s) - start))s)"; done
) &
beat=$!
trap 'kill $beat 2>/dev/null || true' EXIT
go build -trimpath -ldflags="$ldflags" -o "$bin/" \
	k8s.io/kubernetes/cmd/kube-apiserver \
	k8s.io/kubernetes/cmd/kube-controller-manager \
	k8s.io/kubernetes/cmd/kube-scheduler \
	k8s.io/kubernetes/cmd/kubelet \
	k8s.io/kubernetes/cmd/kube-proxy \
	k8s.io/kubernetes/cmd/kubectl \
	./cmd/hostpath-provisioner \
	./cmd/cri-reset
kill $beat 2>/dev/null || true
printf '%s\n' "$key" >"$dir/stamps/build"
log "built in $(($(date +%s) - start))s"
fill_cache
