// Package component runs the real Kubernetes control-plane components and
// kube-proxy from k8s.io/kubernetes inside the netdoctor-sandbox binary.
package component

import (
	"fmt"
	"os"
	"sort"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/component-base/cli"
	kubectl "k8s.io/kubectl/pkg/cmd"
	kubectlutil "k8s.io/kubectl/pkg/cmd/util"
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

// kubectlName is also a component: the kubectl of the cluster's own version,
// so that the sandbox, `make demo` and the tests need no kubectl installed
// (CI uses it when the machine has none). Invoked as "kubectl" (a link to
// this binary) or as `component kubectl ARGS`.
const kubectlName = "kubectl"

// Names lists the components.
func Names() []string {
	var n []string
	for k := range commands {
		n = append(n, k)
	}
	n = append(n, kubectlName)
	sort.Strings(n)
	return n
}

// Run runs component name with args and returns its exit code.
func Run(name string, args []string) int {
	if name == kubectlName {
		return runKubectl(args)
	}
	newCmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "unknown component %q: must be one of %v\n", name, Names())
		return 2
	}
	cmd := newCmd()
	cmd.SetArgs(args)
	return cli.Run(cmd)
}

// runKubectl runs kubectl as its own main does; its plugin lookup sees
// "kubectl ARGS", whatever this binary is called.
func runKubectl(args []string) int {
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	cmd := kubectl.NewDefaultKubectlCommandWithArgs(kubectl.KubectlOptions{
		PluginHandler: kubectl.NewDefaultPluginHandler(nil),
		Arguments:     append([]string{kubectlName}, args...),
		ConfigFlags:   genericclioptions.NewConfigFlags(true).WithWarningPrinter(streams),
		IOStreams:     streams,
	})
	cmd.SetArgs(args)
	if err := cli.RunNoErrOutput(cmd); err != nil {
		kubectlutil.CheckErr(err) // prints the error as kubectl does and exits
	}
	return 0
}
