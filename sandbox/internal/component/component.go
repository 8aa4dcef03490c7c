// Package component runs the real Kubernetes control-plane components and
// kube-proxy from k8s.io/kubernetes inside the netdoctor-sandbox binary.
package component

import (
	"fmt"
	"os"
	"sort"

	"github.com/spf13/cobra"
	"k8s.io/component-base/cli"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	proxy "k8s.io/kubernetes/cmd/kube-proxy/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
)

var commands = map[string]func() *cobra.Command{
	"kube-apiserver":          apiserver.NewAPIServerCommand,
	"kube-controller-manager": controllermanager.NewControllerManagerCommand,
	"kube-scheduler":          func() *cobra.Command { return scheduler.NewSchedulerCommand() },
	"kube-proxy":              proxy.NewProxyCommand,
}

// Names lists the components.
func Names() []string {
	var n []string
	for k := range commands {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// Run runs component name with args and returns its exit code.
func Run(name string, args []string) int {
	newCmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "unknown component %q: must be one of %v\n", name, Names())
		return 2
	}
	cmd := newCmd()
	cmd.SetArgs(args)
	return cli.Run(cmd)
}
