// Command cri-reset stops and removes every pod sandbox and container that a
// CRI runtime holds, through the CRI API itself. scripts/k8s-down.sh runs it
// against the test cluster's own containerd after the kubelet has stopped:
// StopPodSandbox is what makes containerd call CNI DEL (veth, IP lease,
// per-pod iptables rules) and unmount the pod's network namespace, so a
// teardown through the API leaves nothing behind, where killing processes
// would leave all of that.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func main() {
	endpoint := flag.String("endpoint", os.Getenv("CONTAINER_RUNTIME_ENDPOINT"), "CRI socket, unix:///path (env CONTAINER_RUNTIME_ENDPOINT)")
	timeout := flag.Duration("timeout", 2*time.Minute, "give up after this long")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := run(ctx, *endpoint); err != nil {
		log.Fatalf("cri-reset: %v", err)
	}
}

func run(ctx context.Context, endpoint string) error {
	if endpoint == "" {
		return fmt.Errorf("--endpoint is required")
	}
	if !strings.HasPrefix(endpoint, "unix://") {
		endpoint = "unix://" + endpoint
	}
	conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("dial %s: %w", endpoint, err)
	}
	defer conn.Close()
	rt := runtime.NewRuntimeServiceClient(conn)

	ctrs, err := rt.ListContainers(ctx, &runtime.ListContainersRequest{})
	if err != nil {
		return fmt.Errorf("list containers: %w", err)
	}
	for _, c := range ctrs.Containers {
		if _, err := rt.StopContainer(ctx, &runtime.StopContainerRequest{ContainerId: c.Id, Timeout: 5}); err != nil {
			log.Printf("stop container %s: %v", c.Metadata.GetName(), err)
		}
		if _, err := rt.RemoveContainer(ctx, &runtime.RemoveContainerRequest{ContainerId: c.Id}); err != nil {
			return fmt.Errorf("remove container %s: %w", c.Metadata.GetName(), err)
		}
	}
	pods, err := rt.ListPodSandbox(ctx, &runtime.ListPodSandboxRequest{})
	if err != nil {
		return fmt.Errorf("list pod sandboxes: %w", err)
	}
	for _, p := range pods.Items {
		name := p.Metadata.GetNamespace() + "/" + p.Metadata.GetName()
		if _, err := rt.StopPodSandbox(ctx, &runtime.StopPodSandboxRequest{PodSandboxId: p.Id}); err != nil {
			return fmt.Errorf("stop pod sandbox %s: %w", name, err)
		}
		if _, err := rt.RemovePodSandbox(ctx, &runtime.RemovePodSandboxRequest{PodSandboxId: p.Id}); err != nil {
			return fmt.Errorf("remove pod sandbox %s: %w", name, err)
		}
	}
	log.Printf("cri-reset: removed %d containers, %d pod sandboxes", len(ctrs.Containers), len(pods.Items))
	return nil
}
