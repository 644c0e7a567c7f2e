// Package e2e tests the local test cluster that `make k8s` starts, the way a
// workspace uses it: a pod on the pod network fetches a URL from a server on
// the host (as a workspace agent reaches coderd) and writes to a
// PersistentVolumeClaim of the default StorageClass. It drives the cluster
// with the kubectl that scripts/k8s-build.sh built, so it needs none of
// client-go's compile time.
//
// It runs only with K8S_TEST=1 and a KUBECONFIG (`make k8s-test` sets both),
// so `go test ./...` in this module skips it without a cluster.
package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

type cluster struct {
	t        *testing.T
	kubectl  string
	hostIP   string
	podCIDR  *net.IPNet
	nsPrefix string
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	if os.Getenv("K8S_TEST") != "1" || os.Getenv("KUBECONFIG") == "" {
		t.Skip("needs the test cluster: make k8s-test (K8S_TEST=1 and KUBECONFIG)")
	}
	kubectl := os.Getenv("K8S_KUBECTL")
	if kubectl == "" {
		kubectl = filepath.Join(repoRoot(t), ".toolchain", "k8s", "bin", "kubectl")
	}
	hostIP := envOr("K8S_HOST_IP", "10.244.0.1")
	_, cidr, err := net.ParseCIDR(envOr("K8S_POD_CIDR", "10.244.0.0/24"))
	if err != nil {
		t.Fatalf("K8S_POD_CIDR: %v", err)
	}
	return &cluster{t: t, kubectl: kubectl, hostIP: hostIP, podCIDR: cidr}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func repoRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	// tools/k8s/e2e -> repository root.
	return filepath.Clean(filepath.Join(wd, "..", "..", ".."))
}

// run runs kubectl with stdin and returns its stdout; it fails the test on error.
func (c *cluster) run(ctx context.Context, stdin string, args ...string) string {
	c.t.Helper()
	out, err := c.try(ctx, stdin, args...)
	if err != nil {
		c.t.Fatalf("kubectl %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func (c *cluster) try(ctx context.Context, stdin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, c.kubectl, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// eventually polls cond every half second until it returns true or ctx ends.
func (c *cluster) eventually(ctx context.Context, what string, cond func() bool) {
	c.t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			c.t.Fatalf("timed out waiting for %s", what)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// buildProbe builds ./probe into a directory a pod can mount: static, so
// that it runs in the pause image, and world-readable, so that the pause
// image's non-root user can run it.
func buildProbe(ctx context.Context, t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	build := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(dir, "probe"), "./probe")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build probe: %v\n%s", err, out)
	}
	return dir
}

// namespace makes a namespace for one test, deleted when the test ends, and
// waits for its default service account (pods are refused before it exists).
func (c *cluster) namespace(ctx context.Context) string {
	t := c.t
	t.Helper()
	ns := "k8s-test-" + randHex(t)
	c.run(ctx, "", "create", "namespace", ns)
	t.Cleanup(func() {
		cctx, ccancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer ccancel()
		if _, err := c.try(cctx, "", "delete", "namespace", ns, "--wait=true"); err != nil {
			t.Errorf("delete namespace: %v", err)
		}
	})
	c.eventually(ctx, "service account default", func() bool {
		_, err := c.try(ctx, "", "-n", ns, "get", "serviceaccount", "default")
		return err == nil
	})
	return ns
}

// waitSucceeded waits for a pod with restartPolicy Never to finish and
// returns its logs; it fails the test, with the pod's description, if the
// pod failed.
func (c *cluster) waitSucceeded(ctx context.Context, ns, pod string) string {
	t := c.t
	t.Helper()
	var phase string
	c.eventually(ctx, "pod "+pod+" to finish", func() bool {
		phase = c.run(ctx, "", "-n", ns, "get", "pod", pod, "-o", "jsonpath={.status.phase}")
		return phase == "Succeeded" || phase == "Failed"
	})
	// kubectl logs goes API server -> kubelet: that path works too.
	logs, _ := c.try(ctx, "", "-n", ns, "logs", pod)
	if phase != "Succeeded" {
		desc, _ := c.try(ctx, "", "-n", ns, "describe", "pod", pod)
		t.Fatalf("pod %s %s\nlogs:\n%s\n%s", pod, phase, logs, desc)
	}
	return logs
}

func randHex(t *testing.T) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func TestNodeReady(t *testing.T) {
	c := newCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out := c.run(ctx, "", "get", "nodes", "-o",
		`jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}`)
	if !strings.Contains(out, "=True") {
		t.Fatalf("no Ready node: %q", out)
	}
	sc := c.run(ctx, "", "get", "storageclass", "-o",
		`jsonpath={range .items[*]}{.metadata.name} {.metadata.annotations.storageclass\.kubernetes\.io/is-default-class}{"\n"}{end}`)
	if !strings.Contains(sc, "hostpath true") {
		t.Fatalf("no default StorageClass hostpath: %q", sc)
	}
}

// TestPodReachesHostAndWritesClaim is the workspace's path: pod network ->
// host server, home on a claim that the provisioner binds, files on the host,
// and the volume removed with its claim.
func TestPodReachesHostAndWritesClaim(t *testing.T) {
	c := newCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	probeDir := buildProbe(ctx, t)

	// The "coderd": a server on the host's address on the pod network.
	token := "hello-" + randHex(t)
	ln, err := net.Listen("tcp", net.JoinHostPort(c.hostIP, "0"))
	if err != nil {
		t.Fatalf("listen on the host's pod-network address %s: %v", c.hostIP, err)
	}
	var mu sync.Mutex
	var remotes []string
	srv := &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			remotes = append(remotes, r.RemoteAddr)
			mu.Unlock()
			_, _ = w.Write([]byte(token))
		}),
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	url := "http://" + ln.Addr().String() + "/"

	ns := c.namespace(ctx)

	c.run(ctx, fmt.Sprintf(`
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: home}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 10Mi}}
---
apiVersion: v1
kind: Pod
metadata: {name: probe}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 0
  containers:
  - name: probe
    image: registry.k8s.io/pause:3.10
    imagePullPolicy: Never
    command: [/probe/probe, -get, %q, -write, /home/answer]
    volumeMounts:
    - {name: probe, mountPath: /probe, readOnly: true}
    - {name: home, mountPath: /home}
  volumes:
  - name: probe
    hostPath: {path: %q, type: Directory}
  - name: home
    persistentVolumeClaim: {claimName: home}
`, url, probeDir), "-n", ns, "apply", "-f", "-")

	logs := c.waitSucceeded(ctx, ns, "probe")
	if !strings.Contains(logs, token) {
		t.Errorf("probe logs %q lack %q", logs, token)
	}
	mu.Lock()
	got := append([]string(nil), remotes...)
	mu.Unlock()
	if len(got) == 0 {
		t.Fatal("the host server saw no request")
	}
	host, _, err := net.SplitHostPort(got[0])
	if err != nil || !c.podCIDR.Contains(net.ParseIP(host)) {
		t.Errorf("request came from %q, not from the pod network %s", got[0], c.podCIDR)
	}

	// The claim is bound to a hostPath volume holding the pod's file.
	pv := c.run(ctx, "", "-n", ns, "get", "pvc", "home", "-o", "jsonpath={.spec.volumeName}")
	if pv == "" {
		t.Fatal("claim home has no volume")
	}
	path := c.run(ctx, "", "get", "pv", pv, "-o", "jsonpath={.spec.hostPath.path}")
	b, err := os.ReadFile(filepath.Join(path, "answer"))
	if err != nil || string(b) != token {
		t.Fatalf("volume file %s/answer = %q, %v; want %q", path, b, err, token)
	}

	// Deleting the claim deletes the volume and its directory.
	c.run(ctx, "", "-n", ns, "delete", "pod", "probe", "--wait=true")
	c.run(ctx, "", "-n", ns, "delete", "pvc", "home", "--wait=true")
	c.eventually(ctx, "volume "+pv+" to be deleted", func() bool {
		_, err := c.try(ctx, "", "get", "pv", pv)
		return err != nil
	})
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("volume directory %s still there: %v", path, err)
	}
}

// TestInClusterAPI: a pod reaches the API server the way in-cluster clients
// (a provisioner running in the cluster) do, through the kubernetes Service
// that kube-proxy routes, with its service account token.
func TestInClusterAPI(t *testing.T) {
	c := newCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	probeDir := buildProbe(ctx, t)
	ns := c.namespace(ctx)
	c.run(ctx, fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: in-cluster}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 0
  containers:
  - name: probe
    image: registry.k8s.io/pause:3.10
    imagePullPolicy: Never
    command: [/probe/probe, -in-cluster]
    volumeMounts:
    - {name: probe, mountPath: /probe, readOnly: true}
  volumes:
  - name: probe
    hostPath: {path: %q, type: Directory}
`, probeDir), "-n", ns, "apply", "-f", "-")
	logs := c.waitSucceeded(ctx, ns, "in-cluster")
	if !strings.Contains(logs, `"gitVersion"`) {
		t.Fatalf("in-cluster /version: %q", logs)
	}
}
