package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/netdoctor/netdoctor/internal/cli/checkcmd"
	"github.com/netdoctor/netdoctor/internal/cli/cleancmd"
	"github.com/netdoctor/netdoctor/internal/config"
	"github.com/netdoctor/netdoctor/internal/probe"
	"github.com/netdoctor/netdoctor/internal/report"
)

// env is a temp working directory with a kubeconfig at ~/.kube/config, so
// the relative defaults (config.json, resume.json) land in it.
func env(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv("HOME", dir)
	t.Setenv("KUBECONFIG", "")
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	if err := os.MkdirAll(filepath.Join(dir, ".kube"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".kube", "config"), []byte("apiVersion: v1\nkind: Config\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// fakeEngine records what the CLI asked for and answers with rows.
type fakeEngine struct {
	rows     []report.Row
	err      error
	calls    int
	req      checkcmd.Request
	cleanReq *cleancmd.Request
	// during, if set, runs inside Run (e.g. to cancel the context).
	during func()
}

func (f *fakeEngine) deps() Deps {
	return Deps{
		Run: func(ctx context.Context, req checkcmd.Request) (*report.Report, error) {
			f.calls++
			f.req = req
			if req.Progress != nil {
				req.Progress(len(f.rows), len(f.rows))
			}
			if f.during != nil {
				f.during()
			}
			if f.err != nil && f.rows == nil {
				return nil, f.err
			}
			return &report.Report{Rows: f.rows, Started: time.Unix(0, 0), Duration: time.Second}, f.err
		},
		Clean: func(ctx context.Context, req cleancmd.Request) error {
			f.calls++
			f.cleanReq = &req
			return f.err
		},
	}
}

type result struct {
	code           int
	stdout, stderr string
}

func run(t *testing.T, ctx context.Context, f *fakeEngine, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Run(ctx, args, genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}, f.deps())
	return result{code, out.String(), errOut.String()}
}

func row(src, dst, ip string, res report.Result) report.Row {
	r := report.Row{Pair: report.Pair{Mode: "pod", Protocol: probe.KindTCP, Family: probe.IPv4, SrcNode: src, DstNode: dst, TargetIP: ip, Port: 8889}, Result: res}
	if res != report.Succeeded {
		r.Class, r.Log = probe.ClassRefused, "connection refused by "+ip+":8889"
	}
	return r
}

func readResume(t *testing.T) []report.ResumeEntry {
	t.Helper()
	b, err := os.ReadFile("resume.json")
	if err != nil {
		t.Fatal(err)
	}
	var e []report.ResumeEntry
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("resume.json: %v\n%s", err, b)
	}
	return e
}

func TestCheckExitCodesAndResumeFile(t *testing.T) {
	ctx := context.Background()
	t.Run("all succeeded: exit 0, tables on stdout, resume.json []", func(t *testing.T) {
		env(t)
		f := &fakeEngine{rows: []report.Row{row("n1", "n2", "10.0.0.2", report.Succeeded)}}
		r := run(t, ctx, f, "check", "--no-progress")
		if r.code != 0 {
			t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
		}
		if !strings.Contains(r.stdout, "| S/N | SRC NODE NAME |") || !strings.Contains(r.stdout, "checked 1 pair in 1s: 1 succeeded, 0 failed, 0 exceptions") {
			t.Errorf("stdout:\n%s", r.stdout)
		}
		if e := readResume(t); len(e) != 0 {
			t.Errorf("resume.json has %d entries, want []", len(e))
		}
		if !strings.Contains(r.stderr, "no config.json here: using the defaults") {
			t.Errorf("stderr does not say defaults are used:\n%s", r.stderr)
		}
	})
	t.Run("a failure: exit 1, resume.json lists it", func(t *testing.T) {
		env(t)
		f := &fakeEngine{rows: []report.Row{row("n1", "n2", "10.0.0.2", report.Succeeded), row("n2", "n1", "10.0.0.1", report.Failed)}}
		r := run(t, ctx, f, "check", "--no-progress")
		if r.code != 1 {
			t.Fatalf("exit %d, want 1; stderr:\n%s", r.code, r.stderr)
		}
		e := readResume(t)
		if len(e) != 1 || e[0].SrcNode != "n2" || e[0].Status != report.StatusFailed || e[0].ResultStr != "connection refused by 10.0.0.1:8889" {
			t.Errorf("resume.json = %+v", e)
		}
		if !strings.Contains(r.stdout, " LOG ") || !strings.Contains(r.stdout, "| FAILED | connection refused by 10.0.0.1:8889 |") {
			t.Errorf("no failure table:\n%s", r.stdout)
		}
	})
	t.Run("engine setup error: exit 2, printed once", func(t *testing.T) {
		env(t)
		f := &fakeEngine{err: context.DeadlineExceeded}
		r := run(t, ctx, f, "check", "--no-progress")
		if r.code != 2 || strings.Count(r.stderr, "error: ") != 1 {
			t.Errorf("exit %d, stderr:\n%s", r.code, r.stderr)
		}
		if _, err := os.Stat("resume.json"); err == nil {
			t.Error("resume.json written although nothing was checked")
		}
	})
	t.Run("interrupted: partial report printed, exit 1", func(t *testing.T) {
		env(t)
		ictx, cancel := context.WithCancel(ctx)
		defer cancel()
		f := &fakeEngine{rows: []report.Row{row("n1", "n2", "10.0.0.2", report.Succeeded)}, err: context.Canceled, during: cancel}
		r := run(t, ictx, f, "check", "--no-progress")
		if r.code != 1 {
			t.Fatalf("exit %d, want 1; stderr:\n%s", r.code, r.stderr)
		}
		if !strings.Contains(r.stdout, "interrupted before every pair was checked") || !strings.Contains(r.stderr, "run `netctl check` again") {
			t.Errorf("stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
		}
	})
}

func TestFlagsOverrideFileWhichStaysUntouched(t *testing.T) {
	env(t)
	orig := []byte(`{"mode": "node", "port": "9000", "maxNum": 7, "srcKubeConfig": "~/.kube/config"}` + "\n")
	if err := os.WriteFile("config.json", orig, 0o644); err != nil {
		t.Fatal(err)
	}
	f := &fakeEngine{rows: []report.Row{row("n1", "n2", "10.0.0.2", report.Succeeded)}}
	r := run(t, context.Background(), f, "check", "--no-progress", "--mode", "pod-to-node", "--protocol", "ping", "--cmd-timeout", "9")
	if r.code != 0 {
		t.Fatalf("exit %d:\n%s", r.code, r.stderr)
	}
	c := f.req.Config
	if c.Mode != "pod-to-node" || c.Protocol != "icmp" || c.CmdTimeout != 9 || c.Port != "9000" || c.MaxNum != 7 {
		t.Errorf("engine got mode=%s protocol=%s cmdTimeout=%d port=%s maxNum=%d", c.Mode, c.Protocol, c.CmdTimeout, c.Port, c.MaxNum)
	}
	if home, _ := os.UserHomeDir(); c.SrcKubeConfig != filepath.Join(home, ".kube", "config") {
		t.Errorf("srcKubeConfig = %q, ~ not expanded", c.SrcKubeConfig)
	}
	if b, _ := os.ReadFile("config.json"); !bytes.Equal(b, orig) {
		t.Errorf("config.json was rewritten:\n%s", b)
	}
}

func TestBadInputExits2BeforeTheEngine(t *testing.T) {
	tests := map[string]struct {
		file   string
		args   []string
		stderr string
	}{
		"unknown field": {`{"modee": "pod"}`, []string{"check"},
			"error: config file config.json: unknown field \"modee\" (did you mean \"mode\"?)\n"},
		"every problem at once": {`{"mode": "pods", "maxNum": 0}`, []string{"check", "-o", "yaml", "--kubeconfig", "/nonexistent"},
			"error: invalid settings (config file config.json and flags):\n" +
				"  mode: \"pods\" is not one of pod, node, node-to-pod, pod-to-node\n" +
				"  maxNum: 0 must be at least 1\n" +
				"  srcKubeConfig: file \"/nonexistent\" does not exist; set srcKubeConfig or --kubeconfig to a kubeconfig file\n" +
				"  --output: \"yaml\" is not one of table, wide, json, junit, html\n"},
		"flag value": {``, []string{"check", "--ip-family", "dual"},
			"no config.json here: using the defaults (`netctl init` writes a file to edit)\n" +
				"error: invalid settings: ipFamily: \"dual\" is not one of auto, ipv4, ipv6\n"},
		"explicit missing config": {``, []string{"resume", "--config", "nope.json"},
			"error: config file nope.json: config file \"nope.json\" does not exist; run `netctl init` to write one, or pass --config\n"},
		"unknown flag":    {``, []string{"check", "--bogus"}, "error: unknown flag: --bogus; see 'netctl check --help'\n"},
		"bad flag type":   {``, []string{"check", "--max-num", "many"}, "error: invalid argument \"many\" for \"--max-num\" flag: strconv.ParseInt: parsing \"many\": invalid syntax; see 'netctl check --help'\n"},
		"unknown command": {``, []string{"chek"}, "error: unknown command \"chek\" for \"netctl\" (did you mean \"check\"?); run 'netctl --help' for the commands\n"},
		"extra argument":  {``, []string{"check", "now"}, "error: \"netctl check\" takes no arguments, got [\"now\"]; see 'netctl check --help'\n"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			env(t)
			if tc.file != "" {
				if err := os.WriteFile("config.json", []byte(tc.file), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			f := &fakeEngine{}
			r := run(t, context.Background(), f, tc.args...)
			if r.code != 2 {
				t.Errorf("exit %d, want 2", r.code)
			}
			if f.calls != 0 {
				t.Error("the engine was called")
			}
			if r.stderr != tc.stderr {
				t.Errorf("stderr\n got: %q\nwant: %q", r.stderr, tc.stderr)
			}
		})
	}
}

func TestResume(t *testing.T) {
	t.Run("no resume.json: says so, exit 0, no check", func(t *testing.T) {
		env(t)
		f := &fakeEngine{}
		r := run(t, context.Background(), f, "resume")
		if r.code != 0 || f.calls != 0 || !strings.Contains(r.stderr, "nothing to resume") {
			t.Errorf("exit %d, calls %d, stderr %q", r.code, f.calls, r.stderr)
		}
	})
	t.Run("earlier tool's file: pairs re-checked with the config's mode", func(t *testing.T) {
		env(t)
		old := `[{"Status": 0, "ResultStr": "x", "srcNodeName": "n1", "dstNodeName": "n2", "targetIP": "10.0.0.2"},
		         {"Status": 0, "ResultStr": "x", "srcNodeName": "n2", "dstNodeName": "n1", "targetIP": "10.0.0.1"}]`
		if err := os.WriteFile("resume.json", []byte(old), 0o644); err != nil {
			t.Fatal(err)
		}
		f := &fakeEngine{rows: []report.Row{row("n1", "n2", "10.0.0.2", report.Succeeded), row("n2", "n1", "10.0.0.1", report.Succeeded)}}
		r := run(t, context.Background(), f, "resume", "--no-progress", "--mode", "node")
		if r.code != 0 {
			t.Fatalf("exit %d:\n%s", r.code, r.stderr)
		}
		if len(f.req.Resume) != 2 || f.req.Resume[0].Mode != "node" || f.req.Resume[0].Protocol != probe.KindTCP || f.req.Resume[1].Family != probe.IPv4 {
			t.Errorf("engine got pairs %+v", f.req.Resume)
		}
		if e := readResume(t); len(e) != 0 {
			t.Errorf("resume.json not emptied: %+v", e)
		}
	})
	t.Run("interrupted resume keeps the pairs it did not reach", func(t *testing.T) {
		env(t)
		var entries []report.ResumeEntry
		for _, r := range []report.Row{row("n1", "n2", "10.0.0.2", report.Failed), row("n1", "n3", "10.0.0.3", report.Failed), row("n2", "n3", "10.0.0.3", report.Failed)} {
			entries = append(entries, report.ResumeEntry{Status: report.StatusFailed, Pair: r.Pair})
		}
		if _, err := report.WriteResume("resume.json", slices.Values(entries)); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		// Only n1->n3 was re-checked (and now succeeds) before the interrupt.
		f := &fakeEngine{rows: []report.Row{row("n1", "n3", "10.0.0.3", report.Succeeded)}, err: context.Canceled, during: cancel}
		r := run(t, ctx, f, "resume", "--no-progress")
		if r.code != 1 {
			t.Fatalf("exit %d, want 1:\n%s", r.code, r.stderr)
		}
		e := readResume(t)
		if len(e) != 2 || e[0].DstNode != "n2" || e[1].SrcNode != "n2" {
			t.Errorf("resume.json = %+v, want n1->n2 and n2->n3", e)
		}
	})
}

func TestOutputFileJSON(t *testing.T) {
	env(t)
	f := &fakeEngine{rows: []report.Row{row("n1", "n2", "10.0.0.2", report.Failed)}}
	r := run(t, context.Background(), f, "check", "--no-progress", "-o", "json", "--output-file", "out.json")
	if r.code != 1 {
		t.Fatalf("exit %d:\n%s", r.code, r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("stdout not empty with --output-file: %q", r.stdout)
	}
	b, err := os.ReadFile("out.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc report.JSONReport
	if err := json.Unmarshal(b, &doc); err != nil || doc.Summary.Failed != 1 || len(doc.Rows) != 1 {
		t.Errorf("out.json: %v\n%s", err, b)
	}
	if !strings.Contains(r.stderr, "checked 1 pair in 1s: 0 succeeded, 1 failed, 0 exceptions") {
		t.Errorf("summary not on stderr:\n%s", r.stderr)
	}
}

func TestInit(t *testing.T) {
	env(t)
	f := &fakeEngine{}
	if r := run(t, context.Background(), f, "init"); r.code != 0 {
		t.Fatalf("init: exit %d:\n%s", r.code, r.stderr)
	}
	written, err := config.Load("config.json")
	if err != nil {
		t.Fatalf("init wrote a file that does not load: %v", err)
	}
	if written.Namespace != "netdoctor-system" || written.Mode != "pod" || written.Port != "8889" {
		t.Errorf("written config: %+v", written)
	}
	if err := os.WriteFile("config.json", []byte(`{"mode": "node"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	r := run(t, context.Background(), f, "init")
	if r.code != 2 || !strings.Contains(r.stderr, "config.json already exists") {
		t.Errorf("second init: exit %d, stderr %q", r.code, r.stderr)
	}
	if b, _ := os.ReadFile("config.json"); string(b) != `{"mode": "node"}` {
		t.Errorf("init overwrote the user's file: %s", b)
	}
	if r := run(t, context.Background(), f, "init", "--force"); r.code != 0 {
		t.Errorf("init --force: exit %d", r.code)
	}
	if c, _ := config.Load("config.json"); c.Mode != "pod" {
		t.Errorf("init --force did not rewrite the file")
	}
}

func TestCleanWithoutConfig(t *testing.T) {
	dir := env(t)
	other := filepath.Join(dir, "kc")
	if err := os.WriteFile(other, []byte("apiVersion: v1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := &fakeEngine{}
	r := run(t, context.Background(), f, "clean", "--kubeconfig", "~/kc", "--context", "c1")
	if r.code != 0 || f.cleanReq == nil {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	want := cleancmd.Request{SrcKubeconfig: other, SrcContext: "c1", Namespace: "netdoctor-system", Log: f.cleanReq.Log}
	if *f.cleanReq != want {
		t.Errorf("clean got %+v, want %+v", *f.cleanReq, want)
	}
	// A config file with bad check settings does not block clean.
	if err := os.WriteFile("config.json", []byte(`{"mode": "pods", "namespace": "nd-test"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	r = run(t, context.Background(), f, "clean")
	if r.code != 0 || f.cleanReq.Namespace != "nd-test" {
		t.Errorf("exit %d, namespace %q, stderr %q", r.code, f.cleanReq.Namespace, r.stderr)
	}
}

func TestVersion(t *testing.T) {
	r := run(t, context.Background(), &fakeEngine{}, "version", "-o", "json")
	var info map[string]string
	if err := json.Unmarshal([]byte(r.stdout), &info); err != nil || info["version"] == "" || !strings.HasPrefix(info["goVersion"], "go") {
		t.Errorf("version -o json: %v %q", err, r.stdout)
	}
}

func TestProgressGoesToStderrOnly(t *testing.T) {
	env(t)
	f := &fakeEngine{rows: []report.Row{row("n1", "n2", "10.0.0.2", report.Succeeded), row("n2", "n1", "10.0.0.1", report.Succeeded)}}
	r := run(t, context.Background(), f, "check")
	if r.code != 0 {
		t.Fatalf("exit %d:\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "Do check... 2/2 pairs (100%)") {
		t.Errorf("no plain progress line on stderr:\n%s", r.stderr)
	}
	if strings.Contains(r.stdout, "Do check") {
		t.Errorf("progress leaked to stdout:\n%s", r.stdout)
	}
}
