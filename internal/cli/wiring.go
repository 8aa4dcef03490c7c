package cli

import (
	"context"
	"errors"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/netdoctor/netdoctor/internal/cli/agentcmd"
	"github.com/netdoctor/netdoctor/internal/cli/checkcmd"
	"github.com/netdoctor/netdoctor/internal/cli/cleancmd"
	"github.com/netdoctor/netdoctor/internal/cli/probecmd"
	"github.com/netdoctor/netdoctor/internal/report"
)

// DefaultDeps wires the real engine. TEMPORARY: internal/check is being
// written concurrently; until it lands, check/resume/clean report that the
// engine is missing (exit 2) instead of pretending to run.
func DefaultDeps() Deps {
	errNoEngine := errors.New("this netctl was built without the check engine (internal/check)")
	return Deps{
		Run: func(ctx context.Context, req checkcmd.Request) (*report.Report, error) {
			return nil, errNoEngine
		},
		Clean: func(ctx context.Context, req cleancmd.Request) error {
			return errNoEngine
		},
		More: []func(genericiooptions.IOStreams) *cobra.Command{
			agentcmd.NewCommand,
			probecmd.NewCommand,
		},
	}
}
