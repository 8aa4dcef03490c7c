package app

import (
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/netdoctor/netdoctor/sandbox/internal/fault"
)

// newFillConntrackCommand is the process of the conntrack-full fault: run
// in a node's network namespace, it fills that namespace's conntrack table
// to the limit and keeps it full until killed.
func newFillConntrackCommand(out io.Writer) *cobra.Command {
	var interval time.Duration
	cmd := &cobra.Command{
		Use:    fault.FillConntrackCommand + " [--interval D]",
		Short:  "Keep this network namespace's conntrack table full (the conntrack-full fault's process)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return fault.FillConntrack(cmd.Context(), out, interval)
		},
	}
	cmd.Flags().DurationVar(&interval, "interval", 200*time.Millisecond, "how often to take back room freed by expired entries")
	return cmd
}
