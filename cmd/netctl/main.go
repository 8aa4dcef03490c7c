// Command netctl checks that a Kubernetes cluster network works; the same
// binary is the in-cluster agent (`netctl agent`).
package main

import (
	"os"

	"github.com/netdoctor/netdoctor/internal/cli"
)

func main() { os.Exit(cli.Main()) }
