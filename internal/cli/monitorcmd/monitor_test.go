package monitorcmd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/netdoctor/netdoctor/internal/cli/clierr"
	"github.com/netdoctor/netdoctor/internal/monitor/api"
)

func run(ctx context.Context, args ...string) (string, string, error) {
	var out, errOut bytes.Buffer
	cmd := NewCommand(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	cmd.SetArgs(args)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.ExecuteContext(ctx)
	return out.String(), errOut.String(), err
}

func TestRenderDefaultsEqualCommittedManifest(t *testing.T) {
	out, _, err := run(context.Background(), "render")
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("../../../deploy/monitor.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if out != string(want) {
		t.Error("`netctl monitor render` differs from deploy/monitor.yaml")
	}
}

func TestRenderBadFlagsExit2(t *testing.T) {
	_, _, err := run(context.Background(), "render", "--interval=500ms", "--namespace=Bad_NS")
	if clierr.Code(err) != clierr.Usage {
		t.Fatalf("err = %v (code %d), want exit 2", err, clierr.Code(err))
	}
	for _, want := range []string{"--interval", "--namespace"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %s: %v", want, err)
		}
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestServerAndAgentCommandsOnLoopback runs `monitor server` and two
// `monitor agent` processes' commands in-process on loopback with a 1s
// interval, and waits for connectivity_check 200 and a matrix whose pairs
// all succeed.
func TestServerAndAgentCommandsOnLoopback(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("tok\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, 3)
	t.Cleanup(func() { // before TempDir's cleanup: the server saves its state on exit
		cancel()
		for range 3 {
			<-errs
		}
	})
	srvPort, agentPort := freePort(t), freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", srvPort)
	go func() {
		_, _, err := run(ctx, "server", "--roster=off", "--listen-address=127.0.0.1", fmt.Sprintf("--port=%d", srvPort),
			"--interval=1s", fmt.Sprintf("--agent-port=%d", agentPort), "--token-file="+tokenFile,
			"--state-file="+filepath.Join(dir, "state.json"))
		errs <- err
	}()
	// Two agents on "two nodes": the host-network one answers on agentPort;
	// the pod one on another port, so only n1 -> n2 is probeable on loopback.
	go func() {
		_, _, err := run(ctx, "agent", "--server="+base, "--network=host", "--node=n2", "--pod=p2", "--pod-ips=127.0.0.1",
			fmt.Sprintf("--port=%d", agentPort), "--interval=1s", "--probe-timeout=500ms", "--token-file="+tokenFile,
			"--dns-server=", "--resolv-conf=/nonexistent", "--apiserver=")
		errs <- err
	}()
	go func() {
		_, _, err := run(ctx, "agent", "--server="+base, "--network=pod", "--node=n1", "--pod=p1", "--pod-ips=127.0.0.1",
			fmt.Sprintf("--port=%d", freePort(t)), "--interval=1s", "--probe-timeout=500ms", "--token-file="+tokenFile,
			"--dns-server=", "--resolv-conf=/nonexistent", "--apiserver=")
		errs <- err
	}()

	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-errs:
			errs <- err // for the cleanup's count
			t.Fatalf("a command exited early: %v", err)
		default:
		}
		resp, err := http.Get(base + api.PathConnectivity)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("connectivity_check not 200 within 10s (last: %v %v)", resp, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Wait for a round in which n1 probed n2's host agent.
	for {
		var m api.Matrix
		resp, err := http.Get(base + api.PathMatrix)
		if err == nil {
			_ = json.NewDecoder(resp.Body).Decode(&m)
			resp.Body.Close()
		}
		found := false
		for _, p := range m.Pairs {
			if p.Source == "n1-private_network" && p.Target == "n2-host_network" {
				found = true
				if !p.OK {
					t.Fatalf("n1 -> n2 host agent failed: %+v", p)
				}
			}
		}
		if found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no n1 -> n2-host_network pair within 10s: %+v", m)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestDefaultProbeTimeout: short intervals keep half the round for the peer
// list and the report; long ones cap probes at 5 s.
func TestDefaultProbeTimeout(t *testing.T) {
	for _, c := range []struct{ interval, want time.Duration }{
		{time.Second, 500 * time.Millisecond},
		{2 * time.Second, time.Second},
		{10 * time.Second, 5 * time.Second},
		{15 * time.Second, 5 * time.Second},
	} {
		if got := defaultProbeTimeout(c.interval); got != c.want {
			t.Errorf("interval %s: probe timeout %s, want %s", c.interval, got, c.want)
		}
	}
}

func TestRenderReachFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--reach-schedule=1 0"}, "--reach-schedule: \"1 0\": the second field"},
		{[]string{"--reach-schedule=* * * *"}, "--reach-schedule: \"* * * *\" has 4 fields"},
		{[]string{"--reach-schedule=0 1", "--reach-qps=0"}, "--reach-qps: "},
		{[]string{"--reach-schedule=0 1", "--reach-node-port=80"}, "--reach-node-port: "},
		{[]string{"--reach-schedule=0 1", "--node-port=31082"}, "--reach-node-port and --node-port: must differ"},
	} {
		_, _, err := run(context.Background(), append([]string{"render"}, c.args...)...)
		if clierr.Code(err) != clierr.Usage || !strings.Contains(fmt.Sprint(err), c.want) {
			t.Errorf("render %v: err = %v (code %d), want exit 2 naming %q", c.args, err, clierr.Code(err), c.want)
		}
	}
	out, _, err := run(context.Background(), "render", "--reach-schedule=*/5 * * * *")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"name: netdoctor-monitor-reach", "nodePort: 31082", "PreferDualStack",
		"--reach-schedule=*/5 * * * *", "--reach-service=netdoctor-monitor-reach.netdoctor-monitor.svc", "--reach-expect-success-rate=1"} {
		if !strings.Contains(out, want) {
			t.Errorf("rendered manifest lacks %q", want)
		}
	}
	tok := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tok, []byte("t"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err = run(context.Background(), "agent", "--reach-schedule=5", "--token-file="+tok, "--server=http://127.0.0.1:1",
		"--node=n1", "--port=0", "--reach-service=x")
	if clierr.Code(err) != clierr.Usage || !strings.Contains(fmt.Sprint(err), "--reach-schedule: \"5\" has 1 fields") {
		t.Fatalf("agent with a bad schedule: err = %v (code %d), want exit 2 naming --reach-schedule", err, clierr.Code(err))
	}
}
