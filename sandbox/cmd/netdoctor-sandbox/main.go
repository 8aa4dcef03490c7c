// Command netdoctor-sandbox runs a real local Kubernetes cluster whose nodes
// and pods are network namespaces. See sandbox/README.md.
package main

import (
	"os"

	"github.com/netdoctor/netdoctor/sandbox/internal/app"
)

func main() { os.Exit(app.Main()) }
