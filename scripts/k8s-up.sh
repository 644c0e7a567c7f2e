#!/usr/bin/env bash
# k8s-up.sh (make k8s) starts a single-node Kubernetes 1.34 test cluster on
# this machine with no registry and no internet: the binaries are built from
# the Go module proxy (scripts/k8s-build.sh), everything else comes from
# Debian's packages. It runs, each as a process with a pid file under
# $K8S_DIR/run:
#
#   etcd                     Debian's etcd-server, loopback only
#   kube-apiserver           :$K8S_API_PORT (6443), advertised on the bridge
#   kube-controller-manager  loopback
#   kube-scheduler           loopback
#   containerd               a second one (Debian's, Docker's is untouched)
#                            with its own root, state and socket, CRI enabled
#   kubelet                  cgroupfs driver, node name opencoder-node
#   kube-proxy               iptables mode: Services, NodePorts on the bridge
#   hostpath-provisioner     the default StorageClass "hostpath"
#
# Pods get addresses on the CNI bridge k8sbr0 (10.244.0.0/24); the host is
# 10.244.0.1 there, which is how a pod reaches coderd on the host. It waits
# for the node to be Ready and for a test pod to run, then prints the
# kubeconfig. A second run on a running cluster does nothing. See
# docs/kubernetes.md; scripts/k8s-down.sh undoes all of it.
set -euo pipefail

# shellcheck source=k8s-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/k8s-lib.sh"

t0=$(date +%s)
[[ $(id -u) == 0 ]] || die "must run as root (the kubelet, containerd and CNI need it)"
lock

# ready is true when every component runs and the API server answers.
ready() {
	local c
	for c in "${components[@]}"; do alive "$c" || return 1; done
	kubectl_ get --raw /readyz >/dev/null 2>&1
}

if [[ -x "$bin/kubectl" ]] && ready; then
	log "already running; KUBECONFIG=$kubeconfig"
	exit 0
fi

# Leftovers of a cluster that is not fully running (a process died, a
# previous start failed, or the session that started it ended and its
# processes were killed, leaving mounts, the bridge and iptables rules): clean
# up first, then start from scratch.
if compgen -G "$run/*.pid" >/dev/null || [[ -d "$data" ]]; then
	log "a previous cluster in $dir is not fully running: cleaning it up first"
	K8S_LOCKED=1 "$repo/scripts/k8s-down.sh" || die "cleaning up the previous cluster failed (see above)"
fi

# --- packages ---------------------------------------------------------------

need_pkgs=()
command -v etcd >/dev/null || need_pkgs+=(etcd-server)
[[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/firewall ]] || need_pkgs+=(containernetworking-plugins)
command -v containerd >/dev/null || need_pkgs+=(containerd)
command -v ctr >/dev/null || need_pkgs+=(containerd)
command -v runc >/dev/null || need_pkgs+=(runc)
command -v conntrack >/dev/null || need_pkgs+=(conntrack)
command -v iptables >/dev/null || need_pkgs+=(iptables)
command -v openssl >/dev/null || need_pkgs+=(openssl)
command -v curl >/dev/null || need_pkgs+=(curl)
# The pause image is a static binary: gcc and glibc's libc.a.
if ! command -v gcc >/dev/null || [[ "$(gcc -print-file-name=libc.a)" != /* ]]; then
	need_pkgs+=(gcc libc6-dev)
fi
command -v flock >/dev/null || need_pkgs+=(util-linux)
if ((${#need_pkgs[@]})); then
	log "installing Debian packages: ${need_pkgs[*]}"
	# etcd-server's and containerd's maintainer scripts would start system
	# services where an init system runs them: a policy-rc.d for the length
	# of the install keeps them from doing so (unless the machine has one).
	made_policy=
	if [[ ! -e /usr/sbin/policy-rc.d ]]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod +x /usr/sbin/policy-rc.d
		made_policy=1
	fi
	export DEBIAN_FRONTEND=noninteractive
	rc=0
	apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null ||
		{ apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null; } || rc=$?
	[[ -z "$made_policy" ]] || rm -f /usr/sbin/policy-rc.d
	((rc == 0)) || die "apt-get install ${need_pkgs[*]} failed"
fi

# --- binaries ---------------------------------------------------------------

"$repo/scripts/k8s-build.sh"

mkdir -p "$pki" "$etc/cni" "$run/containerd" "$logs" "$data"/{etcd,kubelet,volumes,cni} "$store" "$dir/state" "$dir/cache"

# The machine as it was before the first start, for k8s-check-clean.sh and
# for the sysctls the kubelet changes (k8s-down.sh restores them).
if [[ ! -f "$dir/state/before.ok" ]]; then
	"$repo/scripts/k8s-check-clean.sh" snapshot "$dir/state/before"
	: >"$dir/state/before.ok"
fi

# --- certificates and kubeconfigs ---------------------------------------------

# cert NAME CN O SANS EKU: a key and a certificate signed by the cluster CA.
cert() {
	local name=$1 cn=$2 o=$3 sans=$4 eku=$5 subj="/CN=$2"
	[[ -f "$pki/$name.crt" ]] && return
	[[ -n "$o" ]] && subj+="/O=$o"
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$pki/$name.key" -subj "$subj" -out "$pki/$name.csr" 2>/dev/null
	{
		echo "basicConstraints=critical,CA:FALSE"
		echo "keyUsage=critical,digitalSignature,keyEncipherment"
		echo "extendedKeyUsage=$eku"
		[[ -n "$sans" ]] && echo "subjectAltName=$sans"
	} >"$pki/$name.ext"
	openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" \
		-set_serial "0x$(openssl rand -hex 16)" -days 3650 -extfile "$pki/$name.ext" \
		-out "$pki/$name.crt" 2>/dev/null
	rm -f "$pki/$name.csr" "$pki/$name.ext"
}

# kubeconfig NAME CERT: a kubeconfig for the client certificate CERT, with
# everything embedded so that it can be copied into a pod or a Secret.
kubeconfig() {
	local f=$etc/$1.kubeconfig
	[[ -f "$f" ]] && return
	cat >"$f" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: opencoder
  cluster:
    server: https://$host_ip:$api_port
    certificate-authority-data: $(base64 -w0 <"$pki/ca.crt")
users:
- name: $1
  user:
    client-certificate-data: $(base64 -w0 <"$pki/$2.crt")
    client-key-data: $(base64 -w0 <"$pki/$2.key")
contexts:
- name: opencoder
  context: {cluster: opencoder, user: $1}
current-context: opencoder
EOF
	chmod 600 "$f"
}

if [[ ! -f "$pki/ca.crt" ]]; then
	log "creating certificates in $pki"
	openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$pki/ca.key" -subj "/CN=opencoder-k8s-ca" -days 3650 \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
		-out "$pki/ca.crt" 2>/dev/null
	openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
	openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
fi
svc_ip=$(awk -F'[./]' '{print $1"."$2"."$3"."$4+1}' <<<"$svc_cidr")
cert apiserver kube-apiserver "" \
	"DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,IP:127.0.0.1,IP:$host_ip,IP:$svc_ip" serverAuth
cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters "" clientAuth
cert admin admin system:masters "" clientAuth
cert controller-manager system:kube-controller-manager "" "" clientAuth
cert scheduler system:kube-scheduler "" "" clientAuth
cert kubelet "system:node:$node" system:nodes "" clientAuth
cert kube-proxy system:kube-proxy "" "" clientAuth
cert kubelet-serving "$node" "" "DNS:$node,DNS:localhost,IP:$host_ip,IP:127.0.0.1" serverAuth
kubeconfig admin admin
kubeconfig controller-manager controller-manager
kubeconfig scheduler scheduler
kubeconfig kubelet kubelet
kubeconfig kube-proxy kube-proxy

# --- the bridge ----------------------------------------------------------------

# Made here rather than by the CNI bridge plugin on the first pod, so that the
# host's address on the pod network exists before the API server and kubelet
# start, and they can advertise it.
if ! ip link show "$bridge" >/dev/null 2>&1; then
	log "creating bridge $bridge $host_ip/${pod_cidr#*/}"
	ip link add "$bridge" type bridge
	ip addr add "$host_ip/${pod_cidr#*/}" dev "$bridge"
	ip link set "$bridge" up
fi

# --- processes -----------------------------------------------------------------

# start NAME CMD...: run CMD in its own session, logging to log/NAME.log,
# unless NAME already runs. fd 8 (the lock) is closed for it.
start() {
	local name=$1
	shift
	alive "$name" && return
	log "starting $name (log $logs/$name.log)"
	setsid "$@" >>"$logs/$name.log" 2>&1 </dev/null 8>&- &
	echo $! >"$run/$name.pid"
}

# wait_for DESC SECONDS CMD...: poll CMD until it succeeds.
wait_for() {
	local desc=$1 secs=$2 i
	shift 2
	for ((i = 0; i < secs * 2; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.5
	done
	die "timed out after ${secs}s waiting for $desc (logs in $logs)"
}

start etcd etcd --name opencoder --data-dir "$data/etcd" \
	--listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
	--listen-peer-urls "http://127.0.0.1:$etcd_peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer_port" \
	--initial-cluster "opencoder=http://127.0.0.1:$etcd_peer_port" \
	--quota-backend-bytes 2147483648
wait_for etcd 60 curl -fsS "http://127.0.0.1:$etcd_port/health"

start kube-apiserver "$bin/kube-apiserver" \
	--etcd-servers "http://127.0.0.1:$etcd_port" \
	--bind-address 0.0.0.0 --secure-port "$api_port" --advertise-address "$host_ip" \
	--tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
	--client-ca-file "$pki/ca.crt" \
	--kubelet-client-certificate "$pki/apiserver-kubelet-client.crt" --kubelet-client-key "$pki/apiserver-kubelet-client.key" \
	--kubelet-certificate-authority "$pki/ca.crt" --kubelet-preferred-address-types InternalIP \
	--service-account-issuer https://kubernetes.default.svc.cluster.local \
	--service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
	--service-cluster-ip-range "$svc_cidr" \
	--authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
	--allow-privileged=true --profiling=false
wait_for kube-apiserver 120 kubectl_ get --raw /readyz

start kube-controller-manager "$bin/kube-controller-manager" \
	--kubeconfig "$etc/controller-manager.kubeconfig" \
	--authentication-kubeconfig "$etc/controller-manager.kubeconfig" \
	--authorization-kubeconfig "$etc/controller-manager.kubeconfig" \
	--bind-address 127.0.0.1 --leader-elect=false \
	--service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
	--cluster-signing-cert-file "$pki/ca.crt" --cluster-signing-key-file "$pki/ca.key" \
	--use-service-account-credentials=true --service-cluster-ip-range "$svc_cidr" --profiling=false

start kube-scheduler "$bin/kube-scheduler" \
	--kubeconfig "$etc/scheduler.kubeconfig" \
	--authentication-kubeconfig "$etc/scheduler.kubeconfig" \
	--authorization-kubeconfig "$etc/scheduler.kubeconfig" \
	--bind-address 127.0.0.1 --leader-elect=false --profiling=false

# containerd: Debian's binary with a config of its own, so Docker's
# containerd (whose CRI plugin is off) is never touched.
cat >"$etc/containerd.toml" <<EOF
version = 2
root = "$store"
state = "$run/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = "$sock"

[plugins."io.containerd.internal.v1.opt"]
  path = "$data/containerd-opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.10"
  stream_server_address = "127.0.0.1"
  # The machine has no CAP_SYS_RESOURCE (a container): runc cannot lower a
  # process's oom_score_adj below its parent's, so never ask it to.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$etc/cni"
EOF

# CNI: bridge + host-local, firewall (Docker sets FORWARD's policy to DROP, so
# pod-to-pod traffic through the bridge needs its accept rules) and portmap
# (hostPort). No masquerading: pods only talk to each other and the host.
cat >"$etc/cni/10-opencoder.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "opencoder-k8s",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$bridge",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$pod_cidr", "gateway": "$host_ip"}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": "$data/cni"
      }
    },
    {"type": "firewall", "backend": "iptables"},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF

start containerd containerd --config "$etc/containerd.toml"
wait_for containerd 60 ctr_ version

# The pause image, from tools/k8s/pause/pause.c: a static binary in a
# one-layer docker-archive tarball, cached by the source's hash.
pause_image() {
	local src=$repo/tools/k8s/pause/pause.c key tar tmp diff cfg
	key=$(sha256sum "$src" | cut -c1-16)
	tar=$dir/cache/pause-$key.tar
	if [[ ! -f "$tar" ]]; then
		log "building the pause image from $src"
		tmp=$(mktemp -d)
		mkdir "$tmp/rootfs"
		gcc -static -Os -o "$tmp/rootfs/pause" "$src"
		strip "$tmp/rootfs/pause"
		tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$tmp/rootfs" -cf "$tmp/layer.tar" pause
		diff=$(sha256sum "$tmp/layer.tar" | cut -d' ' -f1)
		printf '{"architecture":"amd64","os":"linux","created":"1970-01-01T00:00:00Z","config":{"Entrypoint":["/pause"],"User":"65535:65535"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created":"1970-01-01T00:00:00Z","created_by":"tools/k8s/pause/pause.c"}]}' "$diff" >"$tmp/config.json"
		cfg=$(sha256sum "$tmp/config.json" | cut -d' ' -f1)
		mv "$tmp/config.json" "$tmp/$cfg.json"
		mkdir "$tmp/$diff"
		mv "$tmp/layer.tar" "$tmp/$diff/layer.tar"
		printf '[{"Config":"%s.json","RepoTags":["registry.k8s.io/pause:3.10"],"Layers":["%s/layer.tar"]}]' "$cfg" "$diff" >"$tmp/manifest.json"
		tar --owner=0 --group=0 -C "$tmp" -cf "$tar.tmp" manifest.json "$cfg.json" "$diff/layer.tar"
		mv "$tar.tmp" "$tar"
		rm -rf "$tmp"
	fi
	if ! ctr_ images ls -q | grep -qx registry.k8s.io/pause:3.10; then
		log "importing the pause image"
		ctr_ images import "$tar" >/dev/null
	fi
}
pause_image

# The kubelet rewrites a few kernel sysctls at start (setupKernelTunables);
# k8s-down.sh puts them back from here.
if [[ ! -f "$dir/state/sysctl" ]]; then
	for s in "${sysctls[@]}"; do
		echo "$s=$(sysctl -n "$s")"
	done >"$dir/state/sysctl"
fi
# The kubelet writes container log symlinks to the fixed /var/log/containers.
[[ -e /var/log/containers || -f "$dir/state/made-var-log-containers" ]] || : >"$dir/state/made-var-log-containers"

cat >"$etc/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $host_ip
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $pki/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: $pki/kubelet-serving.crt
tlsPrivateKeyFile: $pki/kubelet-serving.key
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$sock
imageServiceEndpoint: unix://$sock
failSwapOn: false
podLogsDir: $logs/pods
resolvConf: /etc/resolv.conf
clusterDomain: cluster.local
serializeImagePulls: false
# Images are imported, never pulled: never collect them.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, nodefs.inodesFree: 1%, imagefs.available: 1%}
EOF
start kubelet "$bin/kubelet" --config "$etc/kubelet.yaml" --kubeconfig "$etc/kubelet.kubeconfig" \
	--hostname-override "$node" --node-ip "$host_ip" --root-dir "$data/kubelet" --v 1

# kube-proxy (iptables mode) routes Service addresses, above all
# kubernetes.default (10.96.0.1) for in-cluster clients. It leaves the
# conntrack sysctls alone and serves NodePorts on the bridge address only.
cat >"$etc/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $etc/kube-proxy.kubeconfig}
mode: iptables
hostnameOverride: $node
clusterCIDR: $pod_cidr
bindAddress: 127.0.0.1
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
nodePortAddresses: [$host_ip/32]
iptables: {localhostNodePorts: false}
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
start kube-proxy "$bin/kube-proxy" --config "$etc/kube-proxy.yaml"

start hostpath-provisioner "$bin/hostpath-provisioner" --kubeconfig "$kubeconfig" --root "$data/volumes"

node_ready() {
	[[ "$(kubectl_ get node "$node" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" == True ]]
}
log "waiting for node $node to be Ready"
wait_for "node $node Ready" 180 node_ready

kubectl_ apply -f - >/dev/null <<EOF
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: hostpath
  annotations:
    storageclass.kubernetes.io/is-default-class: "true"
provisioner: opencoder.dev/hostpath
reclaimPolicy: Delete
volumeBindingMode: Immediate
EOF

"$repo/scripts/k8s-images.sh"

# The test pod: pause, never pulled, must run and get an address.
log "starting a test pod"
wait_for "the default service account" 60 kubectl_ -n default get serviceaccount default
kubectl_ -n default delete pod k8s-smoke --ignore-not-found --wait >/dev/null
kubectl_ -n default apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: k8s-smoke
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: pause
    image: registry.k8s.io/pause:3.10
    imagePullPolicy: Never
EOF
pod_ip() { kubectl_ -n default get pod k8s-smoke -o 'jsonpath={.status.podIP}' 2>/dev/null; }
smoke_running() {
	[[ "$(kubectl_ -n default get pod k8s-smoke -o 'jsonpath={.status.phase}')" == Running && -n "$(pod_ip)" ]]
}
wait_for "test pod k8s-smoke Running" 120 smoke_running
ip=$(pod_ip)
kubectl_ -n default delete pod k8s-smoke --wait >/dev/null

cat >"$dir/env" <<EOF
export KUBECONFIG=$kubeconfig
export PATH=$bin:\$PATH
EOF
log "test pod ran with address $ip"
log "cluster up in $(($(date +%s) - t0))s: node $node Ready"
log "  KUBECONFIG=$kubeconfig"
log "  kubectl:  $bin/kubectl (or: source $dir/env)"
log "  from pods the host (coderd) is $host_ip"
