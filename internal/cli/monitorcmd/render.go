package monitorcmd

import (
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/netdoctor/netdoctor/internal/cli/clierr"
	"github.com/netdoctor/netdoctor/internal/monitor/manifest"
)

func newRenderCommand(streams genericiooptions.IOStreams) *cobra.Command {
	f := &objectFlags{}
	cmd := &cobra.Command{
		Use:   "render",
		Short: "Print the monitor's manifests (what install applies, without the token Secret)",
		Long: "Print the monitor's objects as YAML for kubectl apply or GitOps. The token\n" +
			"Secret is left out: create it yourself (see docs/monitoring.md).",
		Args: clierr.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o := f.options()
			o.IncludeNamespace = true
			if o.Reach.IngressClass == reachAuto || o.Reach.Gateway == reachAuto {
				return clierr.Usagef("--reach-ingress-class, --reach-gateway: auto needs the cluster (monitor install); render takes an IngressClass name and a <namespace>/<name> Gateway")
			}
			if err := o.Validate(); err != nil {
				return usage(err, "render")
			}
			objs, err := allObjects(o, f.promOperator)
			if err != nil {
				return err
			}
			out, err := manifest.Render(objs...)
			if err != nil {
				return err
			}
			_, err = streams.Out.Write(out)
			return err
		},
	}
	f.add(cmd.Flags(), manifest.ReleaseVersion)
	return cmd
}
