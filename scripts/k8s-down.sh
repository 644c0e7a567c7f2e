#!/usr/bin/env bash
# k8s-down.sh (make k8s-down) stops the test cluster that k8s-up.sh started
# and removes what it made: its processes (by pid file), every pod through the
# CRI (so containerd runs CNI DEL: veths, IP leases, per-pod iptables rules,
# network namespaces), leftover containerd shims and container processes, the
# kubepods cgroups, mounts under $K8S_DIR, the bridge, the CNI-/KUBE-
# iptables chains that were not there before, the sysctls the kubelet and
# kube-proxy changed, and $K8S_DIR itself except the built binaries (bin/,
# stamps/, cache/) and, after a clean teardown, the image store (images/;
# K8S_PURGE=1 removes it too). It ends with scripts/k8s-check-clean.sh, and
# fails if anything of the cluster is left. Safe to run when nothing runs.
set -euo pipefail

# shellcheck source=k8s-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/k8s-lib.sh"

t0=$(date +%s)
[[ $(id -u) == 0 ]] || die "must run as root"
[[ -d "$dir" ]] || {
	log "nothing to stop ($dir does not exist)"
	exit 0
}
lock

# stop NAME...: TERM to all of them at once, then KILL whatever still runs
# after 15 s. (They take a second or two each to exit: one at a time would
# add up.)
stop() {
	local name pid i t pids=() names=()
	t=$(date +%s%N)
	for name in "$@"; do
		if pid=$(pidof_component "$name"); then
			kill -TERM "$pid" 2>/dev/null || true
			pids+=("$pid")
			names+=("$name")
		fi
		rm -f "$run/$name.pid"
	done
	((${#pids[@]})) || return 0
	local running
	for ((i = 0; i < 150; i++)); do
		running=
		for pid in "${pids[@]}"; do [[ -d /proc/$pid ]] && running=1; done
		[[ -n "$running" ]] || break
		sleep 0.1
	done
	for pid in "${pids[@]}"; do
		if [[ -d /proc/$pid ]]; then kill -KILL "$pid" 2>/dev/null || true; fi
	done
	log "stopped ${names[*]} in $((($(date +%s%N) - t) / 1000000))ms"
}

# step DESC: a progress line with the time since the start.
step() { log "$* ($(($(date +%s) - t0))s)"; }

reset=
stop hostpath-provisioner kube-proxy kubelet kube-scheduler kube-controller-manager
if alive containerd; then
	log "removing every pod through the CRI"
	if "$bin/cri-reset" --endpoint "unix://$sock"; then
		reset=1
	else
		log "cri-reset failed; cleaning up by hand"
	fi
fi
stop containerd

# Shims of our containerd (they outlive it by design) and anything still in
# the kubelet's cgroups.
pids=()
for p in /proc/[0-9]*; do
	# mapfile, not $(tr ...): a fork costs ~80 ms on this machine.
	mapfile -d '' -t argv 2>/dev/null <"$p/cmdline" || continue
	args="${argv[*]}"
	[[ "$args" == *containerd-shim*"$sock"* ]] && pids+=("${p#/proc/}")
done
for f in /sys/fs/cgroup/*/kubepods; do
	[[ -d "$f" ]] || continue
	while read -r p; do pids+=("$p"); done < <(find "$f" -name cgroup.procs -exec cat {} + 2>/dev/null)
done
if ((${#pids[@]})); then
	log "killing ${#pids[@]} leftover shim/container processes"
	kill -KILL "${pids[@]}" 2>/dev/null || true
	sleep 1
fi
for f in /sys/fs/cgroup/*/kubepods; do
	[[ -d "$f" ]] || continue
	find "$f" -depth -type d -exec rmdir {} \; 2>/dev/null || log "could not remove cgroup $f"
done

stop kube-apiserver
stop etcd

step "processes stopped"

# Mounts: anything under our directory (kubelet volumes, container rootfs),
# deepest first, and CNI network namespaces that were not there before.
awk -v d="$dir/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do
	umount "$m" 2>/dev/null || umount -l "$m" || log "could not unmount $m"
done
before=$dir/state/before
for ns in /run/netns/cni-*; do
	[[ -e "$ns" ]] || continue
	grep -qx "${ns##*/}" "$before/netns" 2>/dev/null && continue
	umount "$ns" 2>/dev/null || true
	rm -f "$ns"
done

step "mounts removed"

# The bridge and any veth still on it.
if ip link show "$bridge" >/dev/null 2>&1; then
	for v in $(ip -o link show master "$bridge" | awk -F': ' '{sub(/@.*/, "", $2); print $2}'); do
		ip link del "$v" 2>/dev/null || true
	done
	ip link del "$bridge"
	log "removed bridge $bridge"
fi

step "network links removed"

rc=0
# iptables: the rules and chains the CNI plugins and the kubelet added
# (CNI-*, KUBE-*), and only those that were not there before the cluster.
clean_iptables() {
	local cmd=$1 t save script
	command -v "$cmd" >/dev/null || return 0
	save=$("$cmd-save" 2>/dev/null) || return 0
	# One iptables-restore --noflush per family: delete the jumps into our
	# chains from chains that are not ours, then flush and delete our chains.
	# (A fork costs ~80 ms here and kube-proxy makes dozens of rules: one
	# iptables call per rule took 20 s.)
	script=$(awk -v before="$before/chains-$cmd-" '
		function ours(c) { return c ~ /^(CNI|KUBE)-/ }
		/^\*/ { table = substr($0, 2); print; ntables++; nflush = 0; next }
		/^:/ {
			c = substr($1, 2)
			if (ours(c)) {
				f = before table; seen = 0
				while ((getline l < f) > 0) if (l == "-N " c) seen = 1
				close(f)
				if (!seen) { mine[++nflush] = c }
			}
			next
		}
		/^-A / {
			if (!ours($2) && $0 ~ / -j (CNI|KUBE)-/) { sub(/^-A /, "-D "); print }
			next
		}
		/^COMMIT/ {
			for (i = 1; i <= nflush; i++) print "-F " mine[i]
			for (i = 1; i <= nflush; i++) print "-X " mine[i]
			print; next
		}
	' <<<"$save")
	if ! "$cmd-restore" --noflush <<<"$script" 2>/dev/null; then
		log "$cmd-restore refused the cleanup; it was:"$'\n'"$script"
		return 1
	fi
}
clean_iptables iptables || rc=1
clean_iptables ip6tables || rc=1

# With iptables-nft, listing or using a table creates it: the kubelet's
# KUBE-IPTABLES-HINT makes the mangle table. A table that was not there
# before and is empty again is removed, so iptables-save looks as it did.
drop_empty_tables() {
	local cmd=$1 family=$2 t
	command -v nft >/dev/null && [[ -f "$before/rules-$cmd" ]] || return 0
	for t in filter nat mangle raw; do
		grep -qx "\*$t" "$before/rules-$cmd" && continue
		"$cmd" -t "$t" -S 2>/dev/null | grep -q . || continue
		"$cmd" -t "$t" -S 2>/dev/null | grep -qv '^-P [A-Z]* ACCEPT$' && continue
		nft delete table "$family" "$t" 2>/dev/null || true
	done
}
drop_empty_tables iptables ip
drop_empty_tables ip6tables ip6

step "iptables cleaned"

# The sysctls the kubelet changed.
if [[ -f "$dir/state/sysctl" ]]; then
	while IFS== read -r k v; do
		[[ "$(sysctl -n "$k")" == "$v" ]] || sysctl -qw "$k=$v"
	done <"$dir/state/sysctl"
fi

# Directories outside $dir the kubelet and CNI made.
for p in /var/log/containers /var/lib/cni /run/netns; do
	[[ -e "$p" ]] || continue
	grep -qx "$p" "$before/paths" 2>/dev/null && continue
	[[ -f "$before/paths" ]] || continue
	rm -rf "$p"
done

step "checking"
if [[ -f "$dir/state/before.ok" ]]; then
	"$repo/scripts/k8s-check-clean.sh" compare "$before" || rc=$?
else
	"$repo/scripts/k8s-check-clean.sh" || rc=$?
fi

# Everything but the build output; never through a mount that is still there
# (a hostPath volume could be a bind mount of anything).
if grep -qF " $dir/" /proc/self/mountinfo; then
	log "mounts remain under $dir: leaving its files in place"
	rc=1
else
	# The image store survives only a clean teardown: after a crash it may
	# hold containers and snapshots nobody removed.
	keep=(! -name bin ! -name stamps ! -name cache ! -name lock)
	if [[ -n "$reset" && -z "${K8S_PURGE:-}" ]]; then
		keep+=(! -name images)
	else
		log "removing the image store $store"
	fi
	find "$dir" -mindepth 1 -maxdepth 1 "${keep[@]}" -exec rm -rf --one-file-system {} +
fi
log "down in $(($(date +%s) - t0))s"
exit "$rc"
