#!/usr/bin/env bash
# k8s-check-clean.sh checks that the test cluster left nothing behind.
#
#   k8s-check-clean.sh snapshot DIR   record the machine's state in DIR
#                                     (k8s-up.sh does this before its first start)
#   k8s-check-clean.sh compare DIR    compare now against DIR (k8s-down.sh runs it)
#   k8s-check-clean.sh                only the checks that need no snapshot
#
# The hard checks, which fail the run, look for what the cluster makes: a
# process running from $K8S_DIR or a containerd shim of its socket, a mount
# under $K8S_DIR or a CNI network namespace, the bridge, kubepods cgroups,
# CNI-/KUBE- iptables chains and rules, and the kernel sysctls the kubelet
# sets. The full before/after lists of `ip link`, `mount` and `iptables-save`
# are compared too but only reported: other work on the machine (Docker
# tests) changes them all the time.
set -euo pipefail

# shellcheck source=k8s-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/k8s-lib.sh"

links() { ip -o link show | awk -F': ' '{sub(/@.*/, "", $2); print $2}' | LC_ALL=C sort; }
mounts() { awk '{print $5}' /proc/self/mountinfo | LC_ALL=C sort; }
rules() { iptables-save 2>/dev/null | grep -v '^#' | sed 's/\[[0-9]*:[0-9]*\]//' | LC_ALL=C sort; }
ours_rules() { rules | grep -E 'CNI-|KUBE-' || true; }
netns() { ls /run/netns 2>/dev/null | grep '^cni-' | LC_ALL=C sort || true; }
paths() { for p in /var/log/containers /var/lib/cni /run/netns; do [[ -e $p ]] && echo "$p"; done; true; }

snapshot() {
	mkdir -p "$1"
	links >"$1/links"
	mounts >"$1/mounts"
	rules >"$1/rules"
	ours_rules >"$1/ours_rules"
	netns >"$1/netns"
	paths >"$1/paths"
	ps -eo pid=,args= >"$1/ps"
	snapshot_sysctl >"$1/sysctl"
	# Tables and chains, from the save commands: listing a table with
	# iptables-nft (iptables -t T -S) would create it.
	local cmd t
	for cmd in iptables ip6tables; do
		"$cmd-save" 2>/dev/null | grep '^\*' >"$1/rules-$cmd" || true
		for t in filter nat mangle raw; do
			"$cmd-save" 2>/dev/null | awk -v t="*$t" '$0 == t {on = 1; next} /^\*/ {on = 0} on && /^:/ {print "-N " substr($1, 2)}' >"$1/chains-$cmd-$t"
		done
	done
}

snapshot_sysctl() {
	local s
	for s in "${sysctls[@]}"; do
		echo "$s=$(sysctl -n "$s")"
	done
}

fail=0
bad() {
	log "NOT CLEAN: $*"
	fail=1
}

hard_checks() {
	local p args argv
	for p in /proc/[0-9]*; do
		[[ ${p#/proc/} == "$$" ]] && continue
		# mapfile, not $(tr ...): a fork costs ~80 ms on this machine.
		mapfile -d '' -t argv 2>/dev/null <"$p/cmdline" || continue
		args="${argv[*]}"
		case "$args" in
		*k8s-check-clean*) ;;
		*"$sock"* | "$bin/"* | *" $bin/"* | *"--data-dir $data/etcd"*) bad "process ${p#/proc/}: $args" ;;
		esac
	done
	if grep -F " $dir/" /proc/self/mountinfo | grep -q .; then
		bad "mounts under $dir: $(awk -v d="$dir/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | head -5 | tr '\n' ' ')"
	fi
	ip link show "$bridge" >/dev/null 2>&1 && bad "bridge $bridge still exists"
	local cg
	for cg in /sys/fs/cgroup/*/kubepods; do
		[[ -d "$cg" ]] && bad "cgroup $cg still exists"
	done
	return 0
}

compare() {
	local b=$1 x
	hard_checks
	x=$(LC_ALL=C comm -13 "$b/ours_rules" <(ours_rules))
	[[ -z "$x" ]] || bad "iptables rules added: $x"
	x=$(LC_ALL=C comm -13 "$b/netns" <(netns))
	[[ -z "$x" ]] || bad "network namespaces left: $x"
	x=$(LC_ALL=C comm -13 "$b/paths" <(paths))
	[[ -z "$x" ]] || bad "paths left: $x"
	x=$(diff "$b/sysctl" <(snapshot_sysctl) | grep '^>' || true)
	[[ -z "$x" ]] || bad "sysctls changed: $x"
	# Reported only: these change with other work on the machine.
	local what
	for what in links mounts rules; do
		x=$(diff <(cat "$b/$what") <($what) | grep '^[<>]' || true)
		[[ -z "$x" ]] || log "note: $what differ from before (other work on the machine may explain it):"$'\n'"$x"
	done
}

case "${1:-}" in
snapshot) snapshot "${2:?snapshot DIR}" ;;
compare) compare "${2:?compare DIR}" ;;
"") hard_checks ;;
*) die "usage: $0 [snapshot DIR | compare DIR]" ;;
esac
if ((fail)); then
	exit 1
fi
[[ "${1:-}" == snapshot ]] || log "clean: nothing of the cluster is left"
