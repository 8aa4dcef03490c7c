// Package checkcmd implements `netctl check` and `netctl resume`: load and
// validate the config, run the check engine, render the report, write
// resume.json and choose the exit code.
package checkcmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/netdoctor/netdoctor/internal/cli/clierr"
	"github.com/netdoctor/netdoctor/internal/cli/configflags"
	"github.com/netdoctor/netdoctor/internal/cli/printers"
	"github.com/netdoctor/netdoctor/internal/config"
	"github.com/netdoctor/netdoctor/internal/probe"
	"github.com/netdoctor/netdoctor/internal/report"
)

// Request is one run of the check engine (it mirrors check.Options; the
// root command adapts it, so this package can be tested with a fake).
type Request struct {
	Config config.Config
	// Resume, when non-nil, limits the run to these pairs.
	Resume   []report.Pair
	Progress func(done, total int)
	Log      io.Writer
}

// Runner runs a check. An error with no report is a setup problem (exit
// 2); on interrupt it returns what was gathered and the context's error.
type Runner func(ctx context.Context, req Request) (*report.Report, error)

// Options of `netctl check` and `netctl resume`.
type Options struct {
	Flags        configflags.Flags
	Print        *printers.PrintFlags
	ResumeFile   string
	NoProgress   bool
	FailuresOnly bool
	ShowAll      bool

	resume bool // resume: only the pairs of ResumeFile
	config config.Config
	pairs  []report.Pair
	run    Runner
	genericiooptions.IOStreams
}

// NewCheckCommand returns `netctl check`.
func NewCheckCommand(streams genericiooptions.IOStreams, run Runner) *cobra.Command {
	o := &Options{IOStreams: streams, run: run, Print: printers.New((*document)(nil))}
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Deploy agents and check every source against every target",
		Long: "Deploy the netctl agents (DaemonSets) into the namespace, wait until they are\n" +
			"ready, then check every source against every target of the mode and\n" +
			"protocol, print the results, and write the pairs that did not succeed to\n" +
			"resume.json (\"[]\" when every pair succeeded).\n\n" +
			"Exit status: 0 every pair succeeded, 1 some pair FAILED or was an EXCEPTION\n" +
			"(or the check was interrupted), 2 a usage, config or setup error.",
		Example: "  netctl check\n  netctl check --mode node --protocol icmp -o wide\n  netctl check -o junit --output-file netctl.xml\n  netctl check -o html --output-file report.html",
		Args:    clierr.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.Execute(cmd.Context())
		},
	}
	o.addFlags(cmd)
	return cmd
}

// NewResumeCommand returns `netctl resume`.
func NewResumeCommand(streams genericiooptions.IOStreams, run Runner) *cobra.Command {
	o := &Options{IOStreams: streams, run: run, resume: true, Print: printers.New((*document)(nil))}
	cmd := &cobra.Command{
		Use:   "resume",
		Short: "Re-check only the pairs in resume.json",
		Long: "Re-check only the pairs listed in resume.json (written by the last check or\n" +
			"resume), then rewrite it with those still failing. Run it until it is clean,\n" +
			"then run a full check. With no or an empty resume.json it says so and exits 0.",
		Args: clierr.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.Execute(cmd.Context())
		},
	}
	o.addFlags(cmd)
	return cmd
}

func (o *Options) addFlags(cmd *cobra.Command) {
	fs := cmd.Flags()
	o.Flags.AddClusterFlags(fs)
	o.Flags.AddCheckFlags(fs)
	o.Print.AddFlags(fs)
	fs.StringVar(&o.ResumeFile, "resume-file", "resume.json", "file of the pairs that did not succeed")
	fs.BoolVar(&o.NoProgress, "no-progress", false, "do not show progress on stderr")
	fs.BoolVar(&o.FailuresOnly, "failures-only", false, "table output: leave out the table of succeeded pairs")
	fs.BoolVar(&o.ShowAll, "show-all", false, fmt.Sprintf("table output: show the succeeded pairs even when there are more than %d rows (they are left out by default)", report.LargeRun))
}

// Execute runs Complete, Validate and Run.
func (o *Options) Execute(ctx context.Context) error {
	if err := o.Complete(); err != nil {
		return err
	}
	if o.resume && len(o.pairs) == 0 {
		fmt.Fprintf(o.ErrOut, "nothing to resume: %s is missing or lists no pairs (run `netctl check` for a full check)\n", o.ResumeFile)
		return nil
	}
	if err := o.Validate(); err != nil {
		return err
	}
	return o.Run(ctx)
}

// Complete loads the config with the flag overrides and, for resume, the
// pairs to re-check.
func (o *Options) Complete() error {
	cfg, err := o.Flags.Load(o.ErrOut)
	if err != nil {
		return err
	}
	o.config = cfg
	if !o.resume {
		return nil
	}
	pairs, err := report.ReadResume(o.ResumeFile)
	switch {
	case errors.Is(err, os.ErrNotExist):
		o.pairs = nil
	case err != nil:
		return clierr.UsageError(err)
	default:
		o.pairs = pairs
	}
	// Entries written by the earlier tool carry no mode or protocol: they
	// were checked with the config's.
	for i := range o.pairs {
		if o.pairs[i].Mode == "" {
			o.pairs[i].Mode = cfg.Mode
		}
		if o.pairs[i].Protocol == "" {
			o.pairs[i].Protocol = probe.ParseKind(cfg.Protocol)
		}
	}
	return nil
}

// Validate checks the config and flags; every problem is a usage error
// reported before anything touches a cluster.
func (o *Options) Validate() error {
	var errs []error
	if err := o.config.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := o.Print.Problem(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		header := "invalid settings"
		if o.Flags.Read != "" {
			header = "invalid settings (config file " + o.Flags.Read + " and flags)"
		}
		return clierr.UsageError(clierr.Problems(header, err))
	}
	return nil
}
