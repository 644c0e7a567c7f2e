# k8s-lib.sh: settings and helpers shared by scripts/k8s-up.sh,
# scripts/k8s-down.sh, scripts/k8s-images.sh and scripts/k8s-check-clean.sh
# (sourced, not run). Every setting can be overridden from the environment;
# see docs/kubernetes.md.

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=${K8S_DIR:-$repo/.toolchain/k8s}
bin=$dir/bin

# The node's name, and the address of the host on the pod network: the CNI
# bridge's own address. scripts/k8s-up.sh creates the bridge with it before
# anything else starts, so the API server advertises it, the kubelet serves
# on it and pods reach the host (coderd) through it.
node=${K8S_NODE_NAME:-opencoder-node}
bridge=${K8S_BRIDGE:-k8sbr0}
pod_cidr=${K8S_POD_CIDR:-10.244.0.0/24}
host_ip=${K8S_HOST_IP:-10.244.0.1}
svc_cidr=${K8S_SERVICE_CIDR:-10.96.0.0/16}
api_port=${K8S_API_PORT:-6443}
etcd_port=${K8S_ETCD_PORT:-23790}
etcd_peer_port=${K8S_ETCD_PEER_PORT:-23800}

pki=$dir/pki
etc=$dir/etc
run=$dir/run
logs=$dir/log
data=$dir/data
sock=$run/containerd/containerd.sock
# containerd's root: its images. k8s-down.sh keeps it after a clean teardown
# (every container removed through the CRI), so the next start need not
# import the images again; K8S_PURGE=1 or an unclean teardown removes it.
store=$dir/images
kubeconfig=$etc/admin.kubeconfig

# The processes k8s-up.sh starts, in start order; k8s-down.sh stops them in
# reverse.
components=(etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet kube-proxy hostpath-provisioner)

# The kernel settings the kubelet and kube-proxy may rewrite at start;
# k8s-up.sh records them before the first start and k8s-down.sh restores them.
sysctls=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops net.ipv4.conf.all.route_localnet)

log() { printf 'k8s: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

pidof_component() {
	local f=$run/$1.pid p
	[[ -f "$f" ]] || return 1
	read -r p <"$f" || return 1
	[[ -n "$p" && -d /proc/$p ]] || return 1
	echo "$p"
}

alive() { pidof_component "$1" >/dev/null; }

kubectl_() { "$bin/kubectl" --kubeconfig "$kubeconfig" "$@"; }

ctr_() { ctr --address "$sock" --namespace k8s.io "$@"; }

# lock takes the cluster lock so that two makes never race.
lock() {
	# Set by k8s-up.sh when it runs k8s-down.sh under its own lock.
	[[ -z "${K8S_LOCKED:-}" ]] || return 0
	mkdir -p "$dir"
	exec 8>"$dir/lock"
	flock -n 8 || {
		log "another k8s-up/k8s-down holds $dir/lock; waiting"
		flock 8
	}
}
