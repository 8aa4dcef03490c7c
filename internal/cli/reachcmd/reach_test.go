package reachcmd

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/netdoctor/netdoctor/internal/cli/clierr"
	"github.com/netdoctor/netdoctor/internal/reach"
)

func run(t *testing.T, args ...string) (int, string, *reach.Options) {
	t.Helper()
	var got *reach.Options
	fake := func(ctx context.Context, o reach.Options) (*reach.Report, error) {
		got = &o
		return &reach.Report{Spec: o.Spec, Rounds: 1}, nil
	}
	var out, errb bytes.Buffer
	cmd := newCommand(genericiooptions.IOStreams{Out: &out, ErrOut: &errb}, fake)
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	err := cmd.ExecuteContext(context.Background())
	return clierr.Code(err), errb.String() + func() string {
		if err != nil {
			return err.Error()
		}
		return ""
	}(), got
}

func TestBadInputExits2AndRunsNothing(t *testing.T) {
	dir := t.TempDir()
	nr := filepath.Join(dir, "nr.yaml")
	os.WriteFile(nr, []byte("apiVersion: kdoctor.io/v1beta1\nkind: NetReach\nspec:\n  request: {qps: 0}\n"), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--qps", "0"}, "--qps (request.qps)"},
		{[]string{"--qps", "999999"}, "--qps (request.qps)"},
		{[]string{"--duration", "0"}, "--duration (request.durationInSecond)"},
		{[]string{"--timeout", "-3"}, "--timeout (request.perRequestTimeoutInMS)"},
		{[]string{"--paths", "pod,bogus"}, `unknown path kind "bogus"`},
		{[]string{"--ip-family", "ipv5"}, "--ip-family"},
		{[]string{"-o", "yaml"}, "--output"},
		{[]string{"-f", nr}, "spec.request.qps"},
		{[]string{"-f", filepath.Join(dir, "missing.yaml")}, "-f"},
	} {
		code, msg, got := run(t, c.args...)
		if code != clierr.Usage || !strings.Contains(msg, c.want) || got != nil {
			t.Errorf("%v: exit %d, ran %v, message %q; want exit 2 naming %q", c.args, code, got != nil, msg, c.want)
		}
	}
}

func TestFlagsAndNetReach(t *testing.T) {
	code, msg, o := run(t, "--paths", "clusterip,nodeport", "--qps", "50", "--duration", "3", "--ip-family", "ipv6", "--p99-delay", "20")
	if code != 0 || o == nil {
		t.Fatalf("exit %d: %s", code, msg)
	}
	s := o.Spec
	if len(s.Paths) != 2 || s.Asked[reach.PathNodePort] == "" || s.Request.QPS != 50 || s.Request.DurationInSecond != 3 || s.IPv4 || !s.IPv6 || s.Expect.P99AccessDelayInMs != 20 {
		t.Errorf("spec %+v", s)
	}
	dir := t.TempDir()
	nr := filepath.Join(dir, "nr.yaml")
	os.WriteFile(nr, []byte("apiVersion: kdoctor.io/v1beta1\nkind: NetReach\nspec:\n  request: {qps: 7, durationInSecond: 4}\n  agentSpec: {kind: DaemonSet}\n"), 0o644)
	code, msg, o = run(t, "-f", nr, "--duration", "6")
	if code != 0 || o == nil {
		t.Fatalf("exit %d: %s", code, msg)
	}
	if o.Spec.Request.QPS != 7 || o.Spec.Request.DurationInSecond != 6 || !strings.Contains(msg, "note: spec.agentSpec is not used") {
		t.Errorf("netreach + flag: %+v %q", o.Spec.Request, msg)
	}
}

// TestClusterFlagsAndOutput: reach reads --config, -n and --image-repository
// like diagnose (a set flag wins over the file), and -o/--output-file go
// through the printers layer (json written to the file, nothing to stdout).
func TestClusterFlagsAndOutput(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.json")
	if err := os.WriteFile(cfg, []byte(`{"namespace":"nd-x","port":"9000","srcImageRepository":"r.example","version":"v9","podWaitTime":7}`), 0o600); err != nil {
		t.Fatal(err)
	}
	code, msg, o := run(t, "--config", cfg)
	if code != 0 || o == nil || o.Namespace != "nd-x" || o.Port != 9000 || o.Image != "r.example/netctl:v9" || o.PodWait.Seconds() != 7 {
		t.Fatalf("config: exit %d %s %+v", code, msg, o)
	}
	out := filepath.Join(dir, "reach.json")
	code, msg, o = run(t, "--config", cfg, "-n", "other", "--image-repository", "127.0.0.1:5000/team", "-o", "json", "--output-file", out)
	if code != 0 || o == nil || o.Namespace != "other" || o.Image != "127.0.0.1:5000/team/netctl:v9" {
		t.Fatalf("flags over config: exit %d %s %+v", code, msg, o)
	}
	if !strings.Contains(msg, "reach: 0 rows in 1 round(s)") {
		t.Errorf("json to a file: no summary line on stderr: %q", msg)
	}
	data, err := os.ReadFile(out)
	var doc map[string]any
	if err != nil || json.Unmarshal(data, &doc) != nil || len(doc) == 0 {
		t.Errorf("--output-file: %v %q", err, data)
	}
	if code, msg, _ := run(t, "--config", filepath.Join(dir, "missing.json")); code != clierr.Usage || !strings.Contains(msg, "--config") {
		t.Errorf("missing --config: exit %d %q", code, msg)
	}
}
