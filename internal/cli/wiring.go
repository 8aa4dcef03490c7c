package cli

import (
	"context"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/netdoctor/netdoctor/internal/check"
	"github.com/netdoctor/netdoctor/internal/cli/agentcmd"
	"github.com/netdoctor/netdoctor/internal/cli/checkcmd"
	"github.com/netdoctor/netdoctor/internal/cli/cleancmd"
	"github.com/netdoctor/netdoctor/internal/cli/diagnosecmd"
	"github.com/netdoctor/netdoctor/internal/cli/imagecmd"
	"github.com/netdoctor/netdoctor/internal/cli/monitorcmd"
	"github.com/netdoctor/netdoctor/internal/cli/probecmd"
	"github.com/netdoctor/netdoctor/internal/cli/reachcmd"
	"github.com/netdoctor/netdoctor/internal/report"
)

// DefaultDeps wires the real check engine (internal/check) and the commands
// other packages own.
func DefaultDeps() Deps {
	return Deps{
		Run: func(ctx context.Context, req checkcmd.Request) (*report.Report, error) {
			return check.Run(ctx, check.Options{
				Config:   req.Config,
				Resume:   req.Resume,
				Progress: req.Progress,
				Log:      req.Log,
			})
		},
		Clean: func(ctx context.Context, req cleancmd.Request) error {
			return check.Clean(ctx, check.CleanOptions{
				SrcKubeconfig: req.SrcKubeconfig,
				SrcContext:    req.SrcContext,
				DstKubeconfig: req.DstKubeconfig,
				DstContext:    req.DstContext,
				Namespace:     req.Namespace,
				Log:           req.Log,
			})
		},
		More: []func(genericiooptions.IOStreams) *cobra.Command{
			agentcmd.NewCommand,
			diagnosecmd.NewCommand,
			imagecmd.NewCommand,
			monitorcmd.NewCommand,
			probecmd.NewCommand,
			reachcmd.NewCommand,
		},
	}
}
