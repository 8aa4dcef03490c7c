package agentcmd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/netdoctor/netdoctor/internal/agent"
	"github.com/netdoctor/netdoctor/internal/cli/clierr"
	"github.com/netdoctor/netdoctor/internal/probe"
)

// syncBuffer is a goroutine-safe stderr for the running command.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestAgentCommandServes(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokenFile, []byte("tok123\n"), 0o600)
	t.Setenv("NODE_NAME", "node-7")
	t.Setenv("POD_NAME", "agent-xyz")
	t.Setenv("POD_NAMESPACE", "netdoctor")
	t.Setenv("POD_IPS", "10.0.0.7,fd00::7")
	t.Setenv("HOST_NETWORK", "false")

	stderr := &syncBuffer{}
	cmd := NewCommand(genericiooptions.IOStreams{In: strings.NewReader(""), Out: io.Discard, ErrOut: stderr})
	cmd.SetArgs([]string{"--port=0", "--token-file=" + tokenFile, "--host-network"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()

	port := waitForPort(t, stderr)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)

	resp, err := http.Get(base + agent.IdentityPath)
	if err != nil {
		t.Fatal(err)
	}
	var id agent.Identity
	json.NewDecoder(resp.Body).Decode(&id)
	resp.Body.Close()
	want := agent.Identity{Node: "node-7", Pod: "agent-xyz", Namespace: "netdoctor", IPs: []string{"10.0.0.7", "fd00::7"}, HostNetwork: true, Version: id.Version}
	if fmt.Sprint(id) != fmt.Sprint(want) || id.Version == "" {
		t.Errorf("identity %+v, want %+v", id, want)
	}

	// The token from the file (whitespace trimmed) opens the probe API.
	req := agent.ProbeRequest{Concurrency: 1, TimeoutSeconds: 2, Targets: []probe.Target{
		{ID: "self-udp", Kind: probe.KindUDP, Address: "127.0.0.1", Port: port, ExpectNode: "node-7"},
	}}
	var got []probe.Result
	if err := agent.StreamProbe(ctx, http.DefaultClient, base, "tok123", req, func(r probe.Result) { got = append(got, r) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !got[0].OK {
		t.Fatalf("probe through the command's agent: %+v", got)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("command returned %v on shutdown", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("agent did not stop")
	}
	if !strings.Contains(stderr.String(), `"msg":"agent stopped"`) {
		t.Errorf("no JSON shutdown log on stderr: %s", stderr.String())
	}
}

// waitForPort reads the port from the agent's JSON "agent listening" log.
func waitForPort(t *testing.T, stderr *syncBuffer) int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		sc := bufio.NewScanner(strings.NewReader(stderr.String()))
		for sc.Scan() {
			var line struct {
				Msg  string `json:"msg"`
				Port int    `json:"port"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "agent listening" {
				return line.Port
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("agent never logged that it listens: %s", stderr.String())
	return 0
}

func TestAgentCommandBadInput(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o600)
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"missing token file", []string{"--token-file=" + filepath.Join(dir, "nope")}, nil, "--token-file:"},
		{"empty token file", []string{"--token-file=" + empty}, nil, "is empty"},
		{"bad pod IP", []string{"--pod-ips=10.0.0.1,not-an-ip"}, nil, `--pod-ips: "not-an-ip" is not an IP address`},
		{"bad port", []string{"--port=70000"}, nil, "--port: 70000 is not in 0-65535"},
		{"bad HOST_NETWORK", nil, map[string]string{"HOST_NETWORK": "maybe"}, `HOST_NETWORK="maybe" is not true or false`},
		{"positional argument", []string{"extra"}, nil, "takes no arguments"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			cmd := NewCommand(genericiooptions.IOStreams{In: strings.NewReader(""), Out: io.Discard, ErrOut: io.Discard})
			cmd.SetArgs(tc.args)
			cmd.SetOut(io.Discard)
			cmd.SetErr(io.Discard)
			err := cmd.Execute()
			if err == nil || clierr.Code(err) != clierr.Usage || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v (exit %d), want a usage error containing %q", err, clierr.Code(err), tc.want)
			}
		})
	}
}
