// Command coder is the one binary of the product: server, provisioner
// daemon, workspace agent and CLI.
package main

import (
	"context"
	"os"

	"github.com/opencoder/coder/cli"
)

func main() {
	os.Exit(cli.Main(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}
