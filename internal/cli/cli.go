// Package cli is netctl's command line: the cobra root, exit codes, and the
// wiring of each verb (one package per verb) to the engine it drives.
package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/netdoctor/netdoctor/internal/cli/checkcmd"
	"github.com/netdoctor/netdoctor/internal/cli/cleancmd"
	"github.com/netdoctor/netdoctor/internal/cli/clierr"
	"github.com/netdoctor/netdoctor/internal/cli/initcmd"
	"github.com/netdoctor/netdoctor/internal/cli/versioncmd"
)

// Deps are what the commands drive. Main passes the real ones (wiring.go);
// tests pass fakes for the engine.
type Deps struct {
	Run   checkcmd.Runner
	Clean cleancmd.Cleaner
	// More adds commands owned by other packages (agent, monitor).
	More []func(genericiooptions.IOStreams) *cobra.Command
}

// Main is netctl's main: it returns the process exit code.
func Main() int {
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	finished := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			// Restore the default handlers: a second Ctrl-C quits at once.
			stop()
			fmt.Fprintln(streams.ErrOut, "\ninterrupted: stopping and printing what was gathered (press Ctrl-C again to quit at once)")
		case <-finished:
		}
	}()
	args, use := pluginArgs(os.Args[0], os.Args[1:])
	code := runAs(ctx, args, use, streams, DefaultDeps())
	close(finished)
	return code
}

// Run executes the command line args and returns the exit code. Each error
// is printed once, here.
func Run(ctx context.Context, args []string, streams genericiooptions.IOStreams, deps Deps) int {
	return runAs(ctx, args, "netctl", streams, deps)
}

// runAs is Run with the root command's name: "netctl", or "kubectl netdoctor"
// when the binary runs as a kubectl plugin.
func runAs(ctx context.Context, args []string, use string, streams genericiooptions.IOStreams, deps Deps) int {
	root := NewRootCommand(streams, deps)
	if use != "netctl" {
		root.Use = "kubectl-netdoctor"
		root.Annotations = map[string]string{cobra.CommandDisplayNameAnnotation: use}
	}
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err != nil {
		fmt.Fprint(streams.ErrOut, clierr.Format(err))
	}
	return clierr.Code(err)
}

// NewRootCommand builds the netctl command tree.
func NewRootCommand(streams genericiooptions.IOStreams, deps Deps) *cobra.Command {
	root := &cobra.Command{
		Use:   "netctl",
		Short: "Check that a Kubernetes cluster network works",
		Long: "netctl deploys small agents to every node of a Kubernetes cluster and checks\n" +
			"that every pod and node reaches every other one (tcp, udp, icmp, dns), in\n" +
			"one cluster or between two. Start with `netctl init` and `netctl check`.",
		SilenceUsage:               true,
		SilenceErrors:              true,
		SuggestionsMinimumDistance: 2,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return nil
			}
			msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
			if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
				msg += fmt.Sprintf(" (did you mean %q?)", s[0])
			}
			return clierr.Usagef("%s; run '%s --help' for the commands", msg, cmd.CommandPath())
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
	}
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return clierr.Usagef("%w; see '%s --help'", err, cmd.CommandPath())
	})
	root.AddCommand(
		initcmd.NewCommand(streams),
		checkcmd.NewCheckCommand(streams, deps.Run),
		checkcmd.NewResumeCommand(streams, deps.Run),
		cleancmd.NewCommand(streams, deps.Clean),
		versioncmd.NewCommand(streams),
	)
	for _, newCmd := range deps.More {
		root.AddCommand(newCmd(streams))
	}
	return root
}
