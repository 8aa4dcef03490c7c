package app

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/netdoctor/netdoctor/sandbox/internal/cluster"
	"github.com/netdoctor/netdoctor/sandbox/internal/plan"
	"github.com/netdoctor/netdoctor/sandbox/internal/state"
)

// newOutsideCommand runs a command in the outside client namespace of a
// cluster brought up with --load-balancer. The process is replaced by
// nsenter, which execs the command: stdin/stdout/stderr, signals and the
// exit code are the command's own.
func newOutsideCommand() *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "outside --name NAME -- CMD [ARGS...]",
		Short: "Run a command in the cluster's outside client namespace (not a node: routes to the node network and the LB pools only; up --load-balancer)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := plan.ValidateName(name); err != nil {
				return fmt.Errorf("%w: %w", cluster.ErrBadInput, err)
			}
			s, err := state.Load(name)
			if err != nil {
				return fmt.Errorf("%w: %w", cluster.ErrBadInput, err)
			}
			if s.LoadBalancer == nil {
				return fmt.Errorf("%w: cluster %q has no outside namespace: bring it up with --load-balancer", cluster.ErrBadInput, name)
			}
			path := "/run/netns/" + s.LoadBalancer.OutsideNetns
			if _, err := os.Stat(path); err != nil {
				return fmt.Errorf("outside namespace of cluster %q: %w", name, err)
			}
			if _, err := exec.LookPath(args[0]); err != nil {
				return fmt.Errorf("%w: command %q: %w", cluster.ErrBadInput, args[0], err)
			}
			nsenter, err := exec.LookPath("nsenter")
			if err != nil {
				return err
			}
			argv := append([]string{"nsenter", "--net=" + path, "--"}, args...)
			return syscall.Exec(nsenter, argv, os.Environ())
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "cluster name")
	cmd.MarkFlagRequired("name")
	return cmd
}
