// Package cleancmd implements `netctl clean`: delete everything netctl
// created. It works without config.json and whatever the check settings
// say, because it is what users run when something went wrong.
package cleancmd

import (
	"context"
	"io"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/netdoctor/netdoctor/internal/cli/clierr"
	"github.com/netdoctor/netdoctor/internal/cli/configflags"
	"github.com/netdoctor/netdoctor/internal/config"
)

// Request mirrors check.CleanOptions. Empty kubeconfig = kubectl's
// defaults; empty Dst* = single cluster.
type Request struct {
	SrcKubeconfig, SrcContext, DstKubeconfig, DstContext, Namespace string
	Log                                                             io.Writer
}

// Cleaner deletes what netctl created.
type Cleaner func(ctx context.Context, req Request) error

// Options of `netctl clean`.
type Options struct {
	Flags configflags.Flags

	config config.Config
	clean  Cleaner
	genericiooptions.IOStreams
}

// NewCommand returns `netctl clean`.
func NewCommand(streams genericiooptions.IOStreams, clean Cleaner) *cobra.Command {
	o := &Options{IOStreams: streams, clean: clean}
	cmd := &cobra.Command{
		Use:   "clean",
		Short: "Delete everything netctl created",
		Long: "Delete the DaemonSets, Secret and ServiceAccount netctl created (found by the\n" +
			"labels app.kubernetes.io/managed-by=netctl,app.kubernetes.io/part-of=netdoctor-check,\n" +
			"in every namespace), and the namespace only when netctl created it and the\n" +
			"monitor does not run there. Nothing else (the monitor included) is touched.\n" +
			"config.json is read when present (namespace, kubeconfigs), never required.",
		Args: clierr.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	o.Flags.AddClusterFlags(cmd.Flags())
	return cmd
}

// Complete loads the config (optional) and the flag overrides.
func (o *Options) Complete() error {
	cfg, err := o.Flags.Load(io.Discard)
	if err != nil {
		return err
	}
	o.config = cfg
	return nil
}

// Validate checks only what reaching the clusters needs.
func (o *Options) Validate() error {
	return clierr.UsageError(clierr.Problems("invalid settings", o.config.ValidateClusterAccess()))
}

// Run deletes.
func (o *Options) Run(ctx context.Context) error {
	err := o.clean(ctx, Request{
		SrcKubeconfig: o.config.SrcKubeConfig,
		SrcContext:    o.config.SrcContext,
		DstKubeconfig: o.config.DstKubeConfig,
		DstContext:    o.config.DstContext,
		Namespace:     o.config.Namespace,
		Log:           o.ErrOut,
	})
	if err != nil {
		if ctx.Err() != nil {
			return &clierr.ExitError{Code: clierr.Failed, Err: err}
		}
		return clierr.UsageError(err)
	}
	return nil
}
