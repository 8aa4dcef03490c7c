package monitorcmd

import (
	"context"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/netdoctor/netdoctor/internal/cli/clierr"
	"github.com/netdoctor/netdoctor/internal/deploy"
	"github.com/netdoctor/netdoctor/internal/kube"
	"github.com/netdoctor/netdoctor/internal/monitor/manifest"
)

type uninstallOptions struct {
	kube kubeFlags
	genericiooptions.IOStreams
}

func newUninstallCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &uninstallOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "uninstall",
		Short: "Delete everything `monitor install` created",
		Long: "Delete the monitor's objects: only those labelled\n" +
			"app.kubernetes.io/managed-by=netctl and app.kubernetes.io/part-of=netdoctor-monitor,\n" +
			"and the namespace only when netctl created it.",
		Args: clierr.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return o.Run(contextOf(cmd)) },
	}
	o.kube.add(cmd.Flags())
	o.kube.AddNamespaceFlag(cmd.Flags(), manifest.DefaultNamespace, "namespace of the monitor")
	return cmd
}

// Run deletes the monitor's objects with the cleanup `netctl clean` uses,
// scoped to part-of=netdoctor-monitor: never a check's objects, and the
// namespace only when netctl created it and no check agents run there.
func (o *uninstallOptions) Run(ctx context.Context) error {
	c, err := o.kube.connect(ctx)
	if err != nil {
		return err
	}
	client := &kube.Client{Name: c.host, Clientset: c.cs, Dynamic: c.dynamic}
	return deploy.Clean(ctx, client, deploy.CleanScope{Namespace: o.kube.Namespace, PartOf: deploy.MonitorPartOf}, o.Out)
}
