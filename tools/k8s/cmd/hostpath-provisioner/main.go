// Command hostpath-provisioner runs the test cluster's dynamic hostPath
// PersistentVolume provisioner (package hostpath) on the host, next to the
// kubelet, with a kubeconfig. scripts/k8s-up.sh starts it.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/opencoder/coder/tools/k8s/hostpath"
)

func main() {
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the cluster (env KUBECONFIG)")
	root := flag.String("root", "", "host directory that holds the volumes (required)")
	interval := flag.Duration("interval", time.Second, "time between two polls")
	flag.Parse()
	if *root == "" {
		return fmt.Errorf("--root is required")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return fmt.Errorf("load kubeconfig: %w", err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log.Printf("hostpath-provisioner %s: volumes under %s", hostpath.Name, *root)
	p := &hostpath.Provisioner{Client: client, Root: *root, Interval: *interval}
	return p.Run(ctx)
}
