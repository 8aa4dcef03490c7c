// Package initcmd implements `netctl init`: write a config.json with every
// field and its default, for the user to edit.
package initcmd

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/netdoctor/netdoctor/internal/cli/clierr"
	"github.com/netdoctor/netdoctor/internal/config"
)

// Options of `netctl init`.
type Options struct {
	ConfigPath string
	Force      bool
	genericiooptions.IOStreams
}

// NewCommand returns `netctl init`.
func NewCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Write a config.json with every field set to its default",
		Long: "Write config.json (or --config PATH) with every field set to its default.\n" +
			"An existing file is never overwritten unless --force is given.\n" +
			"See docs/configuration.md for every field.",
		Args: clierr.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.Run()
		},
	}
	cmd.Flags().StringVar(&o.ConfigPath, "config", "config.json", "path of the config file to write")
	cmd.Flags().BoolVar(&o.Force, "force", false, "overwrite an existing config file")
	return cmd
}

// Run writes the file.
func (o *Options) Run() error {
	b, err := json.MarshalIndent(config.Default(), "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if o.Force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(o.ConfigPath, flags, 0o644)
	if errors.Is(err, os.ErrExist) {
		return clierr.Usagef("%s already exists; edit it, or pass --force to replace it with the defaults", o.ConfigPath)
	}
	if err != nil {
		return clierr.Usagef("writing config file: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("writing config file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing config file: %w", err)
	}
	fmt.Fprintf(o.ErrOut, "wrote %s; edit it if needed, then run `netctl check`\n", o.ConfigPath)
	return nil
}
