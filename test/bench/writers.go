package main

// What writing a large check's rows costs the CLI (`make bench-writers`, no
// cluster): 20,000 rows (100 nodes x 100 targets x 2 families, one in ten
// not SUCCEEDED) written as -o json, -o junit and resume.json. Each format
// runs in a child process of this program (so one format's garbage never
// counts against the next) whose peak RSS is its maxrss from wait4; "rows
// only" is a child that builds the rows and writes nothing, the floor the
// others stand on. Allocations per write come from testing.Benchmark. The
// figures replace the report-writers section of docs/PERFORMANCE.md; -label
// names the build measured, and rows of other labels are kept, so a run at
// an earlier commit and one of this build stand side by side.

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/netdoctor/netdoctor/internal/probe"
	"github.com/netdoctor/netdoctor/internal/report"
)

const writerRows = 20000

// writerFormats are the outputs measured, in table order.
var writerFormats = []string{"rows only", "json", "junit", "resume.json"}

// largeReport is a 100-node dual-stack pod-mode tcp run: 20,000 rows.
func largeReport() *report.Report {
	r := &report.Report{Started: time.Date(2026, 11, 30, 20, 0, 0, 0, time.UTC), Duration: 20 * time.Second}
	r.Rows = make([]report.Row, 0, writerRows)
	for s := range 100 {
		for d := range 100 {
			for _, fam := range []probe.Family{probe.IPv4, probe.IPv6} {
				target, src := fmt.Sprintf("10.244.%d.17", d), fmt.Sprintf("10.244.%d.17", s)
				if fam == probe.IPv6 {
					target, src = fmt.Sprintf("fd00:10:244:%x::17", d), fmt.Sprintf("fd00:10:244:%x::17", s)
				}
				row := report.Row{Pair: report.Pair{Mode: "pod", Protocol: probe.KindTCP, Family: fam,
					SrcNode: fmt.Sprintf("node-%03d", s), SrcPod: fmt.Sprintf("netdoctor-agent-%05d", s), SrcIP: src,
					DstNode: fmt.Sprintf("node-%03d", d), DstPod: fmt.Sprintf("netdoctor-agent-%05d", d), TargetIP: target, Port: 8889},
					Result: report.Succeeded, Latency: time.Duration(300+s+d) * time.Microsecond, PacketSize: 1500}
				if (s+d)%10 == 3 {
					row.Result, row.Class, row.Log = report.Failed, probe.ClassTimeout, "dial tcp "+target+":8889: i/o timeout after 5s"
				}
				r.Rows = append(r.Rows, row)
			}
		}
	}
	return r
}

// writeFormat writes r in format to w (resume.json to a file in dir).
func writeFormat(format string, r *report.Report, w io.Writer, dir string) error {
	switch format {
	case "json":
		return report.WriteJSON(w, r)
	case "junit":
		return report.WriteJUnit(w, r)
	case "resume.json":
		_, err := report.WriteResume(filepath.Join(dir, "resume.json"), report.ResumeEntries(r))
		return err
	}
	return nil
}

// writersChild is the child process: build the rows, write one format, exit.
func writersChild(format string) error {
	dir, err := os.MkdirTemp("", "netdoctor-bench-writers")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	f, err := os.Create(filepath.Join(dir, "out"))
	if err != nil {
		return err
	}
	defer f.Close()
	r := largeReport()
	if err := writeFormat(format, r, f, dir); err != nil {
		return err
	}
	runtime.KeepAlive(r)
	return nil
}

func writersChildOrBench(child, out, label string) error {
	if child != "" {
		return writersChild(child)
	}
	return benchWriters(out, label)
}

type writerFigure struct {
	Label, Format string
	RSSMiB        float64
	BytesPerOp    int64
	AllocsPerOp   int64
	NsPerOp       int64
}

func benchWriters(out, label string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "netdoctor-bench-writers")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	// Every child first: on Linux a child's maxrss starts from its parent's
	// peak (exec records the mm it leaves), so this process must not have
	// built any rows yet.
	var figs []writerFigure
	for _, format := range writerFormats {
		c := exec.Command(self, "-writers-child", format)
		c.Stderr = os.Stderr
		if err := c.Run(); err != nil {
			return fmt.Errorf("writing %s in a child: %w", format, err)
		}
		fig := writerFigure{Label: label, Format: format}
		if ru, ok := c.ProcessState.SysUsage().(*syscall.Rusage); ok {
			fig.RSSMiB = float64(ru.Maxrss) / 1024 // KiB on Linux
		}
		figs = append(figs, fig)
	}
	r := largeReport()
	for i, fig := range figs {
		if fig.Format != "rows only" {
			res := testing.Benchmark(func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if err := writeFormat(fig.Format, r, io.Discard, dir); err != nil {
						b.Fatal(err)
					}
				}
			})
			figs[i].BytesPerOp, figs[i].AllocsPerOp, figs[i].NsPerOp = res.AllocedBytesPerOp(), res.AllocsPerOp(), res.NsPerOp()
		}
		fmt.Fprintf(os.Stderr, "%+v\n", figs[i])
	}
	return replaceSection(out, "report-writers", "Writing large reports", renderWriters(out, label, figs))
}

// renderWriters renders the section: the kept rows of other labels first
// (read back from out), then figs.
func renderWriters(out, label string, figs []writerFigure) string {
	var b strings.Builder
	b.WriteString("<!-- report-writers: written by `make bench-writers` (go run ./test/bench -writers [-label L]) -->\n")
	la, _ := os.ReadFile("/proc/loadavg")
	fmt.Fprintf(&b, "Machine: %s, %d CPUs, %s, %s, load average %s. %d rows (100 nodes x 100 targets x 2 families, pod mode tcp, 10%% FAILED)\n",
		cpuModel(), runtime.NumCPU(), memTotal(), time.Now().UTC().Format("2006-01-02"), strings.Fields(string(la) + " ?")[0], writerRows)
	b.WriteString("written once per process. Peak RSS: the process's maxrss (wait4), \"rows only\" being the process that builds\n")
	b.WriteString("the rows and writes nothing. Allocations: testing.Benchmark of one write (to io.Discard; resume.json to a file).\n\n")
	b.WriteString("| netctl | output | peak RSS | allocated per write | allocations per write | time per write |\n|---|---|---|---|---|---|\n")
	if old, err := os.ReadFile(out); err == nil {
		row := regexp.MustCompile(`(?m)^\| ([^|]+) \| (rows only|json|junit|resume\.json) \|.*$`)
		if sec := regexp.MustCompile(`(?s)<!-- report-writers.*?<!-- /report-writers -->`).Find(old); sec != nil {
			for _, m := range row.FindAllSubmatch(sec, -1) {
				if string(m[1]) != label {
					b.Write(m[0])
					b.WriteString("\n")
				}
			}
		}
	}
	for _, f := range figs {
		if f.Format == "rows only" {
			fmt.Fprintf(&b, "| %s | %s | %.0f MiB | | | |\n", f.Label, f.Format, f.RSSMiB)
			continue
		}
		fmt.Fprintf(&b, "| %s | %s | %.0f MiB | %.1f MiB | %d | %s |\n", f.Label, f.Format, f.RSSMiB,
			float64(f.BytesPerOp)/(1<<20), f.AllocsPerOp, time.Duration(f.NsPerOp).Round(time.Millisecond))
	}
	b.WriteString("<!-- /report-writers -->")
	return b.String()
}
