// Command probe is what the cluster test runs inside a pod: the pod uses the
// pause image (the only image the cluster always has) with this static
// binary mounted from the host. It fetches a URL on the host, as a workspace
// agent would fetch coderd, and writes the answer into a file on a
// PersistentVolumeClaim, so one pod proves the pod network, the route to the
// host and the volume provisioner.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

// saDir is where Kubernetes mounts a pod's service account token and CA.
const saDir = "/var/run/secrets/kubernetes.io/serviceaccount"

func main() {
	url := flag.String("get", "", "URL to fetch")
	out := flag.String("write", "", "file to write the response body to")
	inCluster := flag.Bool("in-cluster", false, "fetch /version from the API server as in-cluster clients do (KUBERNETES_SERVICE_HOST, the service account token)")
	flag.Parse()
	var err error
	if *inCluster {
		err = version()
	} else {
		err = run(*url, *out)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		os.Exit(1)
	}
}

func run(url, out string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("request: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("get %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("get %s: %s", url, resp.Status)
	}
	if out != "" {
		if err := os.WriteFile(out, body, 0o644); err != nil {
			return fmt.Errorf("write: %w", err)
		}
	}
	fmt.Printf("probe: got %q\n", body)
	return nil
}

// version is what client-go's in-cluster config does: the API server at
// $KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT (the kubernetes Service,
// routed by kube-proxy), verified with the service account's CA, with its
// token.
func version() error {
	host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
	if host == "" || port == "" {
		return fmt.Errorf("KUBERNETES_SERVICE_HOST/PORT not set")
	}
	token, err := os.ReadFile(saDir + "/token")
	if err != nil {
		return fmt.Errorf("token: %w", err)
	}
	ca, err := os.ReadFile(saDir + "/ca.crt")
	if err != nil {
		return fmt.Errorf("ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return fmt.Errorf("no certificate in %s/ca.crt", saDir)
	}
	client := &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
	}
	req, err := http.NewRequest(http.MethodGet, "https://"+net.JoinHostPort(host, port)+"/version", nil)
	if err != nil {
		return fmt.Errorf("request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+string(token))
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("get /version: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("get /version: %s: %s", resp.Status, body)
	}
	fmt.Printf("probe: in-cluster %s:%s /version: %s\n", host, port, body)
	return nil
}
