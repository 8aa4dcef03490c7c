// Package printers is the one output layer of every command that prints a
// result (check, resume, diagnose, monitor status), modelled on kubectl's
// PrintFlags: one -o/--output flag and one --output-file, validated the
// same way before anything touches a cluster, and one Print that picks the
// format. A command's document says which formats it has by the printer
// interfaces it implements; a format every document can take (json) needs
// none. Adding a format is one entry in formats (and, when it needs the
// document's help, one method on the documents that have it).
package printers

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/netdoctor/netdoctor/internal/cli/clierr"
)

// TablePrinter prints the human table (-o table).
type TablePrinter interface{ PrintTable(w io.Writer) error }

// WidePrinter prints the table with more columns (-o wide).
type WidePrinter interface{ PrintWide(w io.Writer) error }

// JSONPrinter prints a document whose JSON is not its plain encoding.
type JSONPrinter interface{ PrintJSON(w io.Writer) error }

// JUnitPrinter prints JUnit XML (-o junit).
type JUnitPrinter interface{ PrintJUnit(w io.Writer) error }

// HTMLPrinter prints one self-contained page (-o html).
type HTMLPrinter interface{ PrintHTML(w io.Writer) error }

type format struct {
	name string
	// human: the format is for a person at a terminal (a summary line on
	// stderr would repeat what it shows).
	human    bool
	supports func(doc any) bool
	print    func(w io.Writer, doc any) error
}

func is[T any](doc any) bool { _, ok := doc.(T); return ok }

// formats, in the order help lists them.
var formats = []format{
	{"table", true, is[TablePrinter], func(w io.Writer, d any) error { return d.(TablePrinter).PrintTable(w) }},
	{"wide", true, is[WidePrinter], func(w io.Writer, d any) error { return d.(WidePrinter).PrintWide(w) }},
	{"json", false, func(any) bool { return true }, printJSON},
	{"junit", false, is[JUnitPrinter], func(w io.Writer, d any) error { return d.(JUnitPrinter).PrintJUnit(w) }},
	{"html", false, is[HTMLPrinter], func(w io.Writer, d any) error { return d.(HTMLPrinter).PrintHTML(w) }},
}

func printJSON(w io.Writer, doc any) error {
	if p, ok := doc.(JSONPrinter); ok {
		return p.PrintJSON(w)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

// PrintFlags are -o/--output and --output-file.
type PrintFlags struct {
	Output     string
	OutputFile string
	allowed    []format
}

// New returns the flags for documents like sample (a value of the type the
// command prints; a nil pointer of it will do).
func New(sample any) *PrintFlags {
	f := &PrintFlags{Output: "table"}
	for _, fm := range formats {
		if fm.supports(sample) {
			f.allowed = append(f.allowed, fm)
		}
	}
	return f
}

// Formats are the names -o takes for this command.
func (f *PrintFlags) Formats() []string {
	var out []string
	for _, fm := range f.allowed {
		out = append(out, fm.name)
	}
	return out
}

// AddFlags adds -o/--output and --output-file.
func (f *PrintFlags) AddFlags(fs *pflag.FlagSet) {
	fs.StringVarP(&f.Output, "output", "o", f.Output, "output format: "+strings.Join(f.Formats(), ", "))
	fs.StringVar(&f.OutputFile, "output-file", "", "write the output to this file instead of stdout (the summary line still goes to stderr)")
}

// Validate rejects a format the command does not print; a usage error.
func (f *PrintFlags) Validate() error {
	if f.format() == nil {
		return clierr.UsageError(f.Problem())
	}
	return nil
}

// Problem is Validate's error without the usage wrapping, for commands
// that list every problem at once; nil when the format is fine.
func (f *PrintFlags) Problem() error {
	if f.format() != nil {
		return nil
	}
	return fmt.Errorf("--output: %q is not one of %s", f.Output, strings.Join(f.Formats(), ", "))
}

func (f *PrintFlags) format() *format {
	for i := range f.allowed {
		if f.allowed[i].name == f.Output {
			return &f.allowed[i]
		}
	}
	return nil
}

// ForPeople says whether what Print writes to stdout is a human table:
// when not (json, junit, html, or a file), commands also say their summary
// line on stderr so a person watching still sees the outcome.
func (f *PrintFlags) ForPeople() bool {
	fm := f.format()
	return fm != nil && fm.human && f.OutputFile == ""
}

// Print writes doc in the chosen format to stdout or --output-file.
func (f *PrintFlags) Print(stdout io.Writer, doc any) error {
	fm := f.format()
	if fm == nil {
		return f.Validate()
	}
	if f.OutputFile == "" {
		return fm.print(stdout, doc)
	}
	file, err := os.Create(f.OutputFile)
	if err != nil {
		return clierr.Usagef("--output-file: %w", err)
	}
	err = fm.print(file, doc)
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	return err
}
