// Package app is the netdoctor-sandbox command line.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/netdoctor/netdoctor/sandbox/internal/cluster"
	"github.com/netdoctor/netdoctor/sandbox/internal/component"
	"github.com/netdoctor/netdoctor/sandbox/internal/fault"
)

// Exit codes.
const (
	ExitOK       = 0
	ExitFailure  = 1 // runtime failure
	ExitBadInput = 2 // bad flags, unknown cluster/node/pod
	ExitSkipped  = 3 // the fault needs a kernel feature this machine lacks
)

// Main runs the command line and returns the exit code.
func Main() int {
	// Run as "kubectl" (a link to this binary), be kubectl.
	if filepath.Base(os.Args[0]) == "kubectl" {
		return component.Run("kubectl", os.Args[1:])
	}
	// The Kubernetes components parse their own flags: hand them over untouched.
	if len(os.Args) > 1 && os.Args[1] == "component" {
		if len(os.Args) < 3 {
			fmt.Fprintf(os.Stderr, "usage: netdoctor-sandbox component %v ARGS...\n", component.Names())
			return ExitBadInput
		}
		return component.Run(os.Args[2], os.Args[3:])
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := NewRootCommand(os.Stdout, os.Stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	fmt.Fprintln(os.Stderr, "error:", err)
	return ExitCode(err)
}

// ExitCode maps an error to the exit code.
func ExitCode(err error) int {
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, cluster.ErrBadInput), errors.Is(err, errUsage):
		return ExitBadInput
	case errors.Is(err, fault.ErrUnsupported):
		return ExitSkipped
	default:
		return ExitFailure
	}
}

var errUsage = errors.New("usage")

// NewRootCommand builds the command tree.
func NewRootCommand(out, errOut io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "netdoctor-sandbox",
		Short:         "A real local Kubernetes cluster in network namespaces, for testing netdoctor",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(out)
	root.SetErr(errOut)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return fmt.Errorf("%w: %w", errUsage, err) })
	root.AddCommand(
		newUpCommand(out, errOut),
		newDownCommand(errOut),
		newStatusCommand(out),
		newFaultCommand(out, errOut),
		newKubeletCommand(),
		newEchoCommand(),
		newHoldPortCommand(out),
		newFillConntrackCommand(out),
		newOutsideCommand(),
		&cobra.Command{
			Use:                "component NAME ARGS...",
			Short:              "Run kube-apiserver, kube-controller-manager, kube-scheduler or kube-proxy",
			DisableFlagParsing: true,
			RunE: func(*cobra.Command, []string) error {
				return fmt.Errorf("%w: component must be the first argument", errUsage)
			},
		},
	)
	return root
}
