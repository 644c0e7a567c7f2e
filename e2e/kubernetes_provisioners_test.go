package e2e_test

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/codersdk"
)

// checkExternalKubernetesProvisioners is the part of issue 11 that puts
// provisioners outside coderd: the chart's provisioner Deployment (inside
// the cluster, with the release's service account and in-cluster
// credentials) and a daemon on the host that reaches the cluster with a
// kubeconfig (KUBECONFIG, which make k8s-e2e sets). Each runs only jobs
// carrying its key's tag, so the built-in provisioners in the coderd pod
// cannot take them; each builds a workspace of the shipped kubernetes
// template in ns, which must then boot and take `coder ssh`. It returns the
// helm settings that keep the provisioner Deployment in later upgrades.
func checkExternalKubernetesProvisioners(t *testing.T, k *kube, d *deployment, helm string, install []string, ns string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cpk := regexp.MustCompile(`cpk_[A-Za-z0-9]+`)
	clusterKey := cpk.FindString(d.run("provisioner", "keys", "create", "in-cluster", "--tag", "location=cluster"))
	hostKey := cpk.FindString(d.run("provisioner", "keys", "create", "on-host", "--tag", "location=host"))
	require.NotEmpty(t, clusterKey)
	require.NotEmpty(t, hostKey)

	// In the cluster: the chart's provisioner Deployment, its key from a
	// Secret.
	k.run("-n", ns, "create", "secret", "generic", "coder-provisioner-key", "--from-literal=key="+clusterKey)
	// The test cluster has no cluster DNS, so the chart's default URL (the
	// Service's DNS name) does not resolve: the daemons dial the access URL.
	settings := []string{"--set", "provisioner.enabled=true", "--set", "provisioner.keySecret.name=coder-provisioner-key",
		"--set", "provisioner.url=" + d.url}
	out, err := exec.Command(helm, append(append([]string{"upgrade"}, install...), settings...)...).CombinedOutput()
	require.NoError(t, err, "helm upgrade with provisioner.enabled: %s", out)
	k.run("-n", ns, "rollout", "status", "deploy/coder-provisioner", "--timeout=5m")

	// On the host: a daemon with the cluster's admin kubeconfig.
	d.startProvisioner(hostKey)

	// The node has 2 CPUs and a workspace requests at least one: k1 stops
	// while these are built (and starts again after).
	d.run("stop", "k1", "-y")

	dir := filepath.Join(repoRoot, "templates", "kubernetes")
	d.run("templates", "push", "kubernetes-cluster", "-d", dir, "--tag", "location=cluster", "-y")
	d.run("templates", "push", "kubernetes-host", "-d", dir, "--tag", "location=host", "--variable", "use_kubeconfig=true", "-y")

	client := d.sdk(ctx)
	orgs, err := client.OrganizationsByUser(ctx, "me")
	require.NoError(t, err)
	require.NotEmpty(t, orgs)
	for _, tc := range []struct{ ws, template, location string }{
		{"kc", "kubernetes-cluster", "cluster"},
		{"kh", "kubernetes-host", "host"},
	} {
		d.run("create", tc.ws, "--template", tc.template, "-y", "--parameter", "namespace="+ns,
			"--parameter", "cpu=2", "--parameter", "memory=1", "--parameter", "home_disk_size=1")
		ws, err := client.WorkspaceByOwnerAndName(ctx, "me", tc.ws)
		require.NoError(t, err)
		worker := ws.LatestBuild.Job.WorkerID
		require.NotNil(t, worker, "the build of %s names no daemon", tc.ws)
		daemons, err := client.ProvisionerDaemons(ctx, orgs[0].ID)
		require.NoError(t, err)
		var ran *codersdk.ProvisionerDaemon
		for i := range daemons {
			if daemons[i].ID == *worker {
				ran = &daemons[i]
			}
		}
		require.NotNil(t, ran, "daemon %s of %s's build is not listed", worker, tc.ws)
		require.Equal(t, tc.location, ran.Tags["location"], "%s was built by %s (tags %v)", tc.ws, ran.Name, ran.Tags)
		t.Logf("%s built by provisioner %q (tags %v)", tc.ws, ran.Name, ran.Tags)
		out := d.run("ssh", tc.ws, "--", "echo uid=$(id -u) host=$(hostname)")
		require.Contains(t, out, "uid=1000 host="+tc.ws)
		d.run("delete", tc.ws, "-y")
	}
	require.Eventually(t, func() bool {
		pods := k.try("-n", ns, "get", "pods", "-l", "app.kubernetes.io/name=coder-workspace", "-o", "name")
		return !strings.Contains(pods, "coder-admin-kc") && !strings.Contains(pods, "coder-admin-kh")
	}, 2*time.Minute, time.Second, "the pods of the externally built workspaces outlived their delete")
	d.run("start", "k1", "-y")
	return settings
}

// sdk is an API client logged in as the deployment's first user.
func (d *deployment) sdk(ctx context.Context) *codersdk.Client {
	d.t.Helper()
	c := codersdk.New(mustParse(d.t, d.url))
	login, err := c.LoginWithPassword(ctx, codersdk.LoginWithPasswordRequest{Email: "admin@example.com", Password: "SomePass!234"})
	require.NoError(d.t, err, fmt.Sprintf("log in to %s", d.url))
	c.SetSessionToken(login.SessionToken)
	return c
}
