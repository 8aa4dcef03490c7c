// Package versioncmd implements `netctl version`.
package versioncmd

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/netdoctor/netdoctor/internal/cli/clierr"
	"github.com/netdoctor/netdoctor/internal/version"
)

// Options of `netctl version`.
type Options struct {
	Output string
	genericiooptions.IOStreams
}

// NewCommand returns `netctl version`.
func NewCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print netctl's version, commit and Go version",
		Long: "Print netctl's version, commit and Go version. The version is also the\n" +
			"default image tag of the agents netctl deploys (config field \"version\").",
		Args: clierr.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run()
		},
	}
	cmd.Flags().StringVarP(&o.Output, "output", "o", "text", "output format: text or json")
	return cmd
}

// Validate checks the flags.
func (o *Options) Validate() error {
	if o.Output != "text" && o.Output != "json" {
		return clierr.Usagef("--output: %q is not one of text, json", o.Output)
	}
	return nil
}

// Run prints the version.
func (o *Options) Run() error {
	info := version.Get()
	if o.Output == "json" {
		enc := json.NewEncoder(o.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(info)
	}
	_, err := fmt.Fprintf(o.Out, "netctl version %s\ncommit: %s\ngo: %s\nplatform: %s\n",
		info.Version, info.Commit, info.GoVersion, info.Platform)
	return err
}
