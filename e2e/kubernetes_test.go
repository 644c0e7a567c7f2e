package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/database/dbtestutil"
	"github.com/opencoder/coder/codersdk"
)

// podHost is the host's address on the test cluster's pod network
// (docs/kubernetes.md): pods reach the host, and the host reaches NodePorts,
// there.
const podHost = "10.244.0.1"

// TestKubernetesHelmWorkspace is issue 11's done-when on the local cluster
// (make k8s-e2e starts it, builds and imports coder-server:latest, runs
// this, stops it): helm install the chart with the database URL in a
// Secret, log in through the NodePort, push the kubernetes template,
// create a workspace whose pod the chart's built-in provisioner creates
// with in-cluster credentials, coder ssh into it, stop/start keeps the home
// claim's files, the chart's provisioner Deployment and a host daemon
// with a kubeconfig each build a workspace that boots (their keys' tags
// route the jobs), helm upgrade rolls coderd with no failed /healthz, delete
// removes pod and claim, helm uninstall leaves nothing of the release.
func TestKubernetesHelmWorkspace(t *testing.T) {
	if os.Getenv("K8S_TEST") != "1" || os.Getenv("KUBECONFIG") == "" {
		t.Skip("needs the test cluster and the coder-server image: make k8s-e2e")
	}
	k := newKube(t)
	helm := filepath.Join(repoRoot, ".toolchain", "bin", "helm")
	ns := fmt.Sprintf("coder-e2e-%d", time.Now().UnixNano()%1_000_000)
	k.run("create", "namespace", ns)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pods:\n%s", k.try("-n", ns, "get", "pods", "-o", "wide"))
			t.Logf("coderd logs:\n%s", k.try("-n", ns, "logs", "deploy/coder", "--tail", "200"))
			t.Logf("events:\n%s", k.try("-n", ns, "get", "events", "--sort-by", ".lastTimestamp"))
		}
		_, _ = exec.Command(helm, "uninstall", "coder", "-n", ns).CombinedOutput()
		k.try("delete", "namespace", ns, "--wait=false")
	})

	// The database: one of the suite's, through a proxy on the pod
	// network's host address.
	dbURL, err := url.Parse(dbtestutil.NewDB(t))
	require.NoError(t, err)
	dbURL.Host = newTCPBalancerOn(t, net.JoinHostPort(podHost, "0"), dbURL.Host).ln.Addr().String()
	k.run("-n", ns, "create", "secret", "generic", "coder-db", "--from-literal=url="+dbURL.String())

	nodePort := 30000 + rand.IntN(2700)
	access := fmt.Sprintf("http://%s:%d", podHost, nodePort)
	install := []string{"coder", filepath.Join(repoRoot, "helm", "coder"), "-n", ns,
		"--set", "coder.postgres.urlSecret.name=coder-db", "--set", "coder.image.pullPolicy=Never",
		"--set", "coder.service.type=NodePort", "--set", fmt.Sprintf("coder.service.nodePort=%d", nodePort),
		"--set", "coder.accessURL=" + access, "--set", "coder.builtinProvisioners=1"}
	out, err := exec.Command(helm, append([]string{"install"}, install...)...).CombinedOutput()
	require.NoError(t, err, "helm install: %s", out)
	k.run("-n", ns, "rollout", "status", "deploy/coder", "--timeout=5m")
	// The pod is ready; the NodePort follows once kube-proxy has the
	// Service's rules.
	require.Eventually(t, func() bool {
		resp, err := http.Get(access + "/healthz")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, time.Minute, 200*time.Millisecond, "coderd is not reachable at its NodePort %s", access)

	tfrc := requireToolchain(t)
	d := &deployment{t: t, url: access, cliDir: t.TempDir(), tfrc: tfrc, workdir: t.TempDir(),
		env: []string{"TF_CLI_CONFIG_FILE=" + tfrc, "NO_COLOR=1"}}
	d.run("login", access, "--first-user-username", "admin", "--first-user-email", "admin@example.com",
		"--first-user-password", "SomePass!234")
	d.run("templates", "push", "kubernetes", "-d", filepath.Join(repoRoot, "templates", "kubernetes"), "-y")
	d.run("create", "k1", "--template", "kubernetes", "-y", "--parameter", "namespace="+ns,
		"--parameter", "cpu=2", "--parameter", "memory=1", "--parameter", "home_disk_size=1")
	workspacePods := func() string {
		return strings.TrimSpace(k.try("-n", ns, "get", "pods", "-l", "app.kubernetes.io/name=coder-workspace",
			"-o", "jsonpath={range .items[*]}{.metadata.name}={.status.phase} {end}"))
	}
	require.Contains(t, workspacePods(), "=")
	out2 := d.run("ssh", "k1", "--", "echo persisted > ~/marker && echo uid=$(id -u) gid=$(id -g) host=$(hostname)")
	require.Contains(t, out2, "uid=1000 gid=1000 host=k1")

	// Stop removes the pod and keeps the claim; start brings the files back.
	d.run("stop", "k1", "-y")
	require.Eventually(t, func() bool { return workspacePods() == "" }, 2*time.Minute, time.Second, "the workspace pod outlived the stop")
	claims := k.run("-n", ns, "get", "pvc", "-o", "name")
	require.Contains(t, claims, "-home")
	d.run("start", "k1", "-y")
	require.Contains(t, d.run("ssh", "k1", "--", "cat ~/marker"), "persisted")

	// Provisioners outside coderd: the chart's provisioner Deployment and
	// a daemon on the host with a kubeconfig.
	install = append(install, checkExternalKubernetesProvisioners(t, k, d, helm, install, ns)...)

	// A rolling upgrade to two replicas: the new coderd pods are ready
	// before the old one stops, so /healthz never fails; the two register
	// with each other (relay URLs from their pod IPs) and the workspace
	// stays reachable through either (the Service picks one per
	// connection: the client's and the agent's may differ, and the DERP
	// mesh carries their packets).
	var ok, failed atomic.Int64
	pollCtx, stopPoll := context.WithCancel(context.Background())
	var polling sync.WaitGroup
	polling.Add(1)
	go func() {
		defer polling.Done()
		c := &http.Client{Timeout: 2 * time.Second}
		for pollCtx.Err() == nil {
			resp, err := c.Get(access + "/healthz")
			if err == nil && resp.StatusCode == http.StatusOK {
				ok.Add(1)
			} else {
				failed.Add(1)
			}
			if resp != nil {
				_ = resp.Body.Close()
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	out, err = exec.Command(helm, append([]string{"upgrade"}, append(install, "--set", "coder.podAnnotations.rolled=yes", "--set", "coder.replicaCount=2")...)...).CombinedOutput()
	require.NoError(t, err, "helm upgrade: %s", out)
	k.run("-n", ns, "rollout", "status", "deploy/coder", "--timeout=5m")
	time.Sleep(2 * time.Second)
	stopPoll()
	polling.Wait()
	t.Logf("/healthz during the rolling upgrade: %d answered, %d failed", ok.Load(), failed.Load())
	require.Zero(t, failed.Load(), "/healthz failed during the rolling upgrade")
	require.Positive(t, ok.Load())
	require.Eventually(t, func() bool {
		out, err := d.try("replicas", "-o", "json")
		var rs []codersdk.Replica
		if err != nil || json.Unmarshal([]byte(out), &rs) != nil || len(rs) != 2 {
			return false
		}
		for _, r := range rs {
			if r.Error != "" || !strings.HasPrefix(r.RelayAddress, "http://10.244.") {
				return false
			}
		}
		return true
	}, 2*time.Minute, time.Second, "the two coderd pods list each other (relay URLs on the pod network), without errors")
	t.Logf("coder replicas after the upgrade:\n%s", d.run("replicas"))
	// The agent reconnects to a new coderd pod by itself; a few sessions
	// in a row land on both pods.
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(2 * time.Second) {
		out, err := d.try("ssh", "k1", "--connect-timeout", "20s", "--", "cat ~/marker")
		if err == nil && strings.Contains(out, "persisted") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ssh within 2 minutes of the upgrade; the last try: %v\n%s", err, out)
		}
	}
	for range 4 {
		require.Contains(t, d.run("ssh", "k1", "--connect-timeout", "20s", "--", "cat ~/marker"), "persisted")
	}

	// Delete removes the pod and the claim.
	d.run("delete", "k1", "-y")
	require.Eventually(t, func() bool {
		return workspacePods() == "" && strings.TrimSpace(k.try("-n", ns, "get", "pvc", "-o", "name")) == ""
	}, 2*time.Minute, time.Second, "the workspace's pod or claim outlived the delete")

	// Uninstall leaves nothing of the release.
	out, err = exec.Command(helm, "uninstall", "coder", "-n", ns, "--wait").CombinedOutput()
	require.NoError(t, err, "helm uninstall: %s", out)
	require.Eventually(t, func() bool {
		left := strings.TrimSpace(k.try("-n", ns, "get", "deploy,rs,svc,sa,role,rolebinding,pods", "-o", "name"))
		// The namespace's own default service account is not the release's.
		return left == "serviceaccount/default"
	}, 2*time.Minute, time.Second, "helm uninstall left objects behind")
}

// kube runs kubectl against the test cluster.
type kube struct {
	t   *testing.T
	bin string
}

func newKube(t *testing.T) *kube {
	bin := os.Getenv("K8S_KUBECTL")
	if bin == "" {
		bin = "kubectl"
	}
	return &kube{t: t, bin: bin}
}

func (k *kube) try(args ...string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	out, _ := exec.CommandContext(ctx, k.bin, args...).CombinedOutput()
	return string(out)
}

func (k *kube) run(args ...string) string {
	k.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, k.bin, args...).CombinedOutput()
	require.NoError(k.t, err, "kubectl %s: %s", strings.Join(args, " "), out)
	return string(out)
}
