package checkcmd

import (
	"context"
	"fmt"
	"io"

	"github.com/netdoctor/netdoctor/internal/analysis"
	"github.com/netdoctor/netdoctor/internal/cli/clierr"
	"github.com/netdoctor/netdoctor/internal/cli/progress"
	"github.com/netdoctor/netdoctor/internal/report"
)

// Run runs the check, renders the report and writes resume.json.
func (o *Options) Run(ctx context.Context) error {
	var bar *progress.Reporter
	if !o.NoProgress {
		bar = progress.New(o.ErrOut, progress.IsTerminal(o.ErrOut))
	}
	req := Request{Config: o.config, Progress: bar.Update, Log: o.ErrOut}
	if o.resume {
		req.Resume = o.pairs
		fmt.Fprintf(o.ErrOut, "re-checking %d pairs from %s\n", len(o.pairs), o.ResumeFile)
	}
	rep, err := o.run(ctx, req)
	bar.Finish()
	interrupted := ctx.Err() != nil
	if err != nil && (rep == nil || !interrupted) {
		if interrupted {
			fmt.Fprintln(o.ErrOut, "interrupted before any pair was checked")
			return clierr.Silent(clierr.Failed)
		}
		return clierr.UsageError(err)
	}
	if interrupted {
		rep.Interrupted = true
	} else {
		// Findings read patterns across all pairs; a partial run could
		// make a pattern look complete, so only a whole run gets them.
		rep.Findings = analysis.WithPolicies(analysis.Analyze(rep.Rows), rep.Rows, rep.NetworkPolicies)
	}
	if err := o.render(rep); err != nil {
		return err
	}
	if err := o.writeResume(rep); err != nil {
		return err
	}
	if !rep.OK() {
		return clierr.Silent(clierr.Failed)
	}
	return nil
}

// render writes the report in the chosen format to stdout or --output-file.
// The summary line also goes to stderr when stdout does not carry it
// (json, junit, html, or a file), so a person watching still sees the outcome.
func (o *Options) render(rep *report.Report) error {
	if err := o.Print.Print(o.Out, &document{rep: rep, table: report.TableOptions{FailuresOnly: o.FailuresOnly, ShowAll: o.ShowAll}}); err != nil {
		if clierr.Code(err) == clierr.Usage {
			return err
		}
		return fmt.Errorf("writing the report: %w", err)
	}
	if !o.Print.ForPeople() {
		fmt.Fprintln(o.ErrOut, report.SummaryLine(rep))
	}
	return nil
}

// document is what check and resume print: the report in every format.
type document struct {
	rep   *report.Report
	table report.TableOptions
}

func (d *document) PrintTable(w io.Writer) error {
	return report.WriteTable(w, d.rep, d.table)
}

func (d *document) PrintWide(w io.Writer) error {
	opts := d.table
	opts.Wide = true
	return report.WriteTable(w, d.rep, opts)
}

func (d *document) PrintJSON(w io.Writer) error  { return report.WriteJSON(w, d.rep) }
func (d *document) PrintJUnit(w io.Writer) error { return report.WriteJUnit(w, d.rep) }
func (d *document) PrintHTML(w io.Writer) error  { return report.WriteHTML(w, d.rep) }

// writeResume records the pairs that did not succeed, streamed from the
// report's rows. After an interrupted resume, the pairs it did not reach
// stay in the file; after an interrupted check the file holds only what was
// found, and a note says so.
func (o *Options) writeResume(rep *report.Report) error {
	entries := report.ResumeEntries(rep)
	if o.resume && rep.Interrupted {
		failed, left := entries, report.Unchecked(o.pairs, rep)
		entries = func(yield func(report.ResumeEntry) bool) {
			for e := range failed {
				if !yield(e) {
					return
				}
			}
			for _, p := range left {
				if !yield(report.ResumeEntry{Status: report.StatusException, ResultStr: "not checked: the resume was interrupted", Pair: p}) {
					return
				}
			}
		}
	}
	n, err := report.WriteResume(o.ResumeFile, entries)
	if err != nil {
		return err
	}
	switch {
	case rep.Interrupted && !o.resume:
		fmt.Fprintf(o.ErrOut, "the check was interrupted: %s lists only the %d failures found so far; run `netctl check` again for a full check\n", o.ResumeFile, n)
	case n > 0:
		fmt.Fprintf(o.ErrOut, "%d pairs did not succeed; they are in %s (`netctl resume` re-checks only them)\n", n, o.ResumeFile)
	}
	return nil
}
