// Package monitorcmd implements `netctl monitor`: continuous monitoring of
// the cluster network (install, uninstall, status, render) and the two
// in-cluster processes it deploys (agent, server).
package monitorcmd

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/netdoctor/netdoctor/internal/cli/clierr"
)

// NewCommand returns `netctl monitor` with its subcommands.
func NewCommand(streams genericiooptions.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "monitor",
		Short: "Monitor the cluster network continuously (agents, server, Prometheus metrics and alerts)",
		Long: "netctl monitor installs agents on every node (pod network and host network)\n" +
			"that probe each other, the cluster DNS and the API server every interval and\n" +
			"report to a server, which serves the k8s-netchecker API, a reachability\n" +
			"matrix and Prometheus metrics. See docs/monitoring.md.",
		Args: clierr.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(
		newInstallCommand(streams),
		newUninstallCommand(streams),
		newStatusCommand(streams),
		newRenderCommand(streams),
		newAgentCommand(streams),
		newServerCommand(streams),
	)
	return cmd
}

func contextOf(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}

// readToken reads a token file (trailing newline ignored).
func readToken(path string) (string, error) {
	if path == "" {
		return "", clierr.Usagef("--token-file: must be set (the Secret %s mounted by the manifests)", "netdoctor-monitor-token")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", clierr.Usagef("--token-file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", clierr.Usagef("--token-file: %s is empty", path)
	}
	return tok, nil
}

func newLogger(streams genericiooptions.IOStreams, verbose bool) *slog.Logger {
	level := slog.LevelInfo
	if verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewJSONHandler(streams.ErrOut, &slog.HandlerOptions{Level: level}))
}

func usage(err error, what string) error {
	if err == nil {
		return nil
	}
	return clierr.UsageError(clierr.Problems(fmt.Sprintf("invalid %s options", what), err))
}
