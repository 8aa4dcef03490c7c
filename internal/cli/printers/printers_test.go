package printers

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/netdoctor/netdoctor/internal/cli/clierr"
)

type tableOnly struct{ N int }

func (tableOnly) PrintTable(w io.Writer) error { _, err := io.WriteString(w, "TABLE\n"); return err }

type everything struct{ tableOnly }

func (everything) PrintWide(w io.Writer) error { _, err := io.WriteString(w, "WIDE\n"); return err }
func (everything) PrintJUnit(w io.Writer) error {
	_, err := io.WriteString(w, "<junit/>\n")
	return err
}
func (everything) PrintHTML(w io.Writer) error { _, err := io.WriteString(w, "<html>\n"); return err }
func (everything) PrintJSON(w io.Writer) error {
	_, err := io.WriteString(w, "{\"own\":true}\n")
	return err
}

// TestFormatsFollowTheDocument: a command takes exactly the formats its
// document implements, plus json; an unknown one is a usage error naming
// the flag and the choices.
func TestFormatsFollowTheDocument(t *testing.T) {
	if got := New(tableOnly{}).Formats(); !reflect.DeepEqual(got, []string{"table", "json"}) {
		t.Errorf("tableOnly formats = %v", got)
	}
	if got := New(everything{}).Formats(); !reflect.DeepEqual(got, []string{"table", "wide", "json", "junit", "html"}) {
		t.Errorf("everything formats = %v", got)
	}
	f := New(tableOnly{})
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	f.AddFlags(fs)
	if err := fs.Parse([]string{"-o", "junit"}); err != nil {
		t.Fatal(err)
	}
	err := f.Validate()
	if clierr.Code(err) != clierr.Usage || !strings.Contains(err.Error(), `--output: "junit" is not one of table, json`) {
		t.Errorf("Validate = %v (code %d)", err, clierr.Code(err))
	}
}

func TestPrintPicksTheFormat(t *testing.T) {
	for _, c := range []struct {
		doc    any
		output string
		want   string
		people bool
	}{
		{tableOnly{}, "table", "TABLE\n", true},
		{tableOnly{N: 3}, "json", "{\n  \"N\": 3\n}\n", false},
		{everything{}, "json", "{\"own\":true}\n", false},
		{everything{}, "wide", "WIDE\n", true},
		{everything{}, "html", "<html>\n", false},
	} {
		f := New(c.doc)
		f.Output = c.output
		var b bytes.Buffer
		if err := f.Print(&b, c.doc); err != nil {
			t.Fatal(err)
		}
		if b.String() != c.want || f.ForPeople() != c.people {
			t.Errorf("%T -o %s: %q (for people %v), want %q (%v)", c.doc, c.output, b.String(), f.ForPeople(), c.want, c.people)
		}
	}
	f := New(everything{})
	f.OutputFile = filepath.Join(t.TempDir(), "out")
	var stdout bytes.Buffer
	if err := f.Print(&stdout, everything{}); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(f.OutputFile)
	if stdout.Len() != 0 || string(got) != "TABLE\n" || f.ForPeople() {
		t.Errorf("--output-file: stdout %q, file %q, for people %v", stdout.String(), got, f.ForPeople())
	}
}
