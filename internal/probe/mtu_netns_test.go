package probe_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/netdoctor/netdoctor/internal/agent"
	"github.com/netdoctor/netdoctor/internal/probe"
)

// The MTU test builds an MTU black hole between two network namespaces:
//
//	ns A: veth MTU 1500, 100.127.255.1/30  <-->  ns B: veth MTU 1400, 100.127.255.2/30
//
// B's veth drops anything longer than its MTU without a word (no ICMP
// "fragmentation needed"), and B advertises a TCP MSS of 1460 so A's TCP
// sends full-size segments into the hole. Small packets pass; full-size
// ones vanish, exactly what a mis-set overlay MTU does in a cluster.
// Behind B, 100.127.255.6 has an `unreachable` route and B forwards, so
// small probes to it from A get ICMP host-unreachable back from B.
// Probes run in helper processes (this test binary re-executed with
// `ip netns exec`), because a goroutine cannot be pinned to a namespace
// when net/http dials from goroutines of its own.
const (
	mtuGuard  = "100.127.255.0/29" // every address the test uses
	mtuLink   = "100.127.255.0/30"
	mtuAddrA  = "100.127.255.1"
	mtuAddrB  = "100.127.255.2"
	mtuBehind = "100.127.255.4/30" // routed from A via B
	mtuNoHost = "100.127.255.6"    // unreachable behind B
	mtuPort   = 8889
	helperEnv = "NETDOCTOR_MTU_HELPER"
)

func TestMTUBlackHole(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2 (`ip`) to create network namespaces")
	}
	if out, _ := exec.Command("ip", "route", "show", "root", mtuGuard).Output(); len(strings.TrimSpace(string(out))) > 0 {
		t.Skipf("%s is already routed on this host (%s); not touching it", mtuGuard, strings.TrimSpace(string(out)))
	}
	id := fmt.Sprint(os.Getpid() % 100000)
	nsA, nsB := "ndmtu-a-"+id, "ndmtu-b-"+id
	vethA, vethB := "ndmtua"+id, "ndmtub"+id

	// Guard first: the test range is unreachable from the host namespace.
	ip(t, "route", "add", "unreachable", mtuGuard)
	t.Cleanup(func() { exec.Command("ip", "route", "del", "unreachable", mtuGuard).Run() })
	for _, ns := range []string{nsA, nsB} {
		ip(t, "netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	}
	ip(t, "link", "add", vethA, "netns", nsA, "type", "veth", "peer", "name", vethB, "netns", nsB)
	ipIn(t, nsA, "link", "set", "lo", "up")
	ipIn(t, nsB, "link", "set", "lo", "up")
	ipIn(t, nsA, "link", "set", vethA, "mtu", "1500", "up")
	ipIn(t, nsB, "link", "set", vethB, "mtu", "1400", "up")
	ipIn(t, nsA, "addr", "add", mtuAddrA+"/30", "dev", vethA)
	ipIn(t, nsB, "addr", "add", mtuAddrB+"/30", "dev", vethB)
	ipIn(t, nsB, "route", "replace", mtuLink, "dev", vethB, "src", mtuAddrB, "advmss", "1460")
	ipIn(t, nsA, "route", "add", mtuBehind, "via", mtuAddrB)
	ipIn(t, nsB, "route", "add", "unreachable", mtuNoHost+"/32")
	run(t, "ip", "netns", "exec", nsB, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv4.icmp_ratelimit=0")
	// B runs its agent without IPv6: it must still serve IPv4.
	run(t, "ip", "netns", "exec", nsB, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
	// A allows unprivileged ICMP sockets (B keeps the default, raw sockets),
	// so both ICMP code paths meet the black hole.
	run(t, "ip", "netns", "exec", nsA, "sysctl", "-qw", "net.ipv4.ping_group_range=0 2147483647")

	stopAgent := startHelperAgent(t, nsB)
	defer stopAgent()

	tests := []struct {
		name     string
		groups   string // set ns A's net.ipv4.ping_group_range first
		ns       string
		target   probe.Target
		ok       bool
		class    probe.FailureClass
		fragment string
	}{
		{"icmp small passes", "", nsA, probe.Target{Kind: probe.KindICMP, Address: mtuAddrB, PayloadSize: 1000}, true, probe.ClassNone, "unprivileged ICMP socket"},
		{"icmp full-size is lost", "", nsA, probe.Target{Kind: probe.KindICMP, Address: mtuAddrB}, false, probe.ClassTimeout, "(1500 bytes, don't fragment): no answer within"},
		{"icmp full-size is lost (raw socket)", "1 0", nsA, probe.Target{Kind: probe.KindICMP, Address: mtuAddrB}, false, probe.ClassTimeout, "no answer within"},
		{"icmp small passes (raw socket)", "", nsA, probe.Target{Kind: probe.KindICMP, Address: mtuAddrB, PayloadSize: 1000}, true, probe.ClassNone, "raw socket"},
		// packetSize above the local route's MTU is a setup note: the probe
		// is sized to the route (1400), never a FAILED row.
		{"icmp full-size from the small-MTU side is sized to the route MTU", "", nsB, probe.Target{Kind: probe.KindICMP, Address: mtuAddrA}, true, probe.ClassNone, "(1400 bytes, raw socket)"},
		{"icmp small from the small-MTU side passes (raw socket)", "", nsB, probe.Target{Kind: probe.KindICMP, Address: mtuAddrA, PayloadSize: 1400}, true, probe.ClassNone, "raw socket"},
		{"tcp small passes", "", nsA, probe.Target{Kind: probe.KindTCP, Address: mtuAddrB, Port: mtuPort, PayloadSize: 1000, ExpectNode: "node-b"}, true, probe.ClassNone, "agent node-b/agent-b answered"},
		{"tcp full-size is lost", "", nsA, probe.Target{Kind: probe.KindTCP, Address: mtuAddrB, Port: mtuPort, ExpectNode: "node-b"}, false, probe.ClassTimeout, "connected to 100.127.255.2:8889, but got no HTTP answer"},
		{"udp small passes", "", nsA, probe.Target{Kind: probe.KindUDP, Address: mtuAddrB, Port: mtuPort, PayloadSize: 1000, ExpectNode: "node-b"}, true, probe.ClassNone, "echoed"},
		{"udp full-size is lost", "", nsA, probe.Target{Kind: probe.KindUDP, Address: mtuAddrB, Port: mtuPort}, false, probe.ClassTimeout, "no answer within"},
		{"tcp host unreachable", "", nsA, probe.Target{Kind: probe.KindTCP, Address: mtuNoHost, Port: mtuPort}, false, probe.ClassUnreachable, "tcp connect to 100.127.255.6:8889: host unreachable"},
		{"udp host unreachable", "", nsA, probe.Target{Kind: probe.KindUDP, Address: mtuNoHost, Port: mtuPort, PayloadSize: 1000}, false, probe.ClassUnreachable, "host unreachable"},
		{"udp-send host unreachable", "", nsA, probe.Target{Kind: probe.KindUDPSend, Address: mtuNoHost, Port: 53}, false, probe.ClassUnreachable, "host unreachable"},
		{"icmp host unreachable (raw socket)", "1 0", nsA, probe.Target{Kind: probe.KindICMP, Address: mtuNoHost, PayloadSize: 1000}, false, probe.ClassUnreachable, "destination unreachable (ICMP code 1 from 100.127.255.2)"},
		{"icmp host unreachable (unprivileged ICMP socket)", "0 2147483647", nsA, probe.Target{Kind: probe.KindICMP, Address: mtuNoHost, PayloadSize: 1000}, false, probe.ClassUnreachable, "host unreachable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.groups != "" {
				run(t, "ip", "netns", "exec", nsA, "sysctl", "-qw", "net.ipv4.ping_group_range="+tc.groups)
			}
			r := probeIn(t, tc.ns, tc.target, 1500*time.Millisecond)
			t.Logf("%s in %s -> ok=%v class=%q reason=%q", tc.target.Kind, tc.ns, r.OK, r.Class, r.Reason)
			if r.OK != tc.ok || r.Class != tc.class || !strings.Contains(r.Reason, tc.fragment) {
				t.Fatalf("got ok=%v class=%q reason=%q; want ok=%v class=%q reason containing %q",
					r.OK, r.Class, r.Reason, tc.ok, tc.class, tc.fragment)
			}
			// The size probed: the route's interface MTU when packetSize is
			// larger (with a note), else packetSize; ns A's interface says
			// 1500, so its black hole is probed at full size and found.
			wantSize, wantNote := tc.target.PayloadSize, ""
			switch {
			case tc.target.Kind != probe.KindTCP && tc.target.Kind != probe.KindUDP && tc.target.Kind != probe.KindICMP:
				wantSize = 0
			case wantSize == 0 && tc.ns == nsB:
				wantSize, wantNote = 1400, "packetSize 1500 is larger than the MTU 1400 of "+vethB
			case wantSize == 0:
				wantSize = 1500
			}
			if r.Size != wantSize || !strings.Contains(r.Note, wantNote) || (wantNote == "" && r.Note != "") {
				t.Errorf("size %d note %q; want size %d, note containing %q", r.Size, r.Note, wantSize, wantNote)
			}
		})
	}
}

// TestMTUHelperProcess is not a test: it is the body of the helper
// processes TestMTUBlackHole starts inside the namespaces.
func TestMTUHelperProcess(t *testing.T) {
	switch os.Getenv(helperEnv) {
	case "agent":
		s := agent.NewServer(agent.Options{Identity: agent.Identity{Node: "node-b", Pod: "agent-b"}, Port: mtuPort})
		if err := s.Listen(); err != nil {
			fmt.Println("ERROR:", err)
			os.Exit(1)
		}
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
		defer stop()
		fmt.Println("READY")
		s.Serve(ctx)
		os.Exit(0)
	case "probe":
		var tg probe.Target
		json.Unmarshal([]byte(os.Getenv(helperEnv+"_TARGET")), &tg)
		timeout, _ := time.ParseDuration(os.Getenv(helperEnv + "_TIMEOUT"))
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		r := probe.Run(ctx, tg)
		cancel()
		b, _ := json.Marshal(r)
		fmt.Printf("RESULT:%s\n", b)
		os.Exit(0)
	}
}

func helperCmd(ns, mode string) *exec.Cmd {
	cmd := exec.Command("ip", "netns", "exec", ns, os.Args[0], "-test.run=^TestMTUHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode)
	return cmd
}

// startHelperAgent runs an agent in ns and returns a function stopping it.
func startHelperAgent(t *testing.T, ns string) func() {
	t.Helper()
	cmd := helperCmd(ns, "agent")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stop := func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case ready <- sc.Text():
			default:
			}
		}
	}()
	select {
	case line := <-ready:
		if line != "READY" {
			stop()
			t.Fatalf("agent in %s: %s", ns, line)
		}
	case <-time.After(10 * time.Second):
		stop()
		t.Fatalf("agent in %s did not start", ns)
	}
	return stop
}

// probeIn runs one probe inside ns.
func probeIn(t *testing.T, ns string, tg probe.Target, timeout time.Duration) probe.Result {
	t.Helper()
	b, _ := json.Marshal(tg)
	cmd := helperCmd(ns, "probe")
	cmd.Env = append(cmd.Env, helperEnv+"_TARGET="+string(b), helperEnv+"_TIMEOUT="+timeout.String())
	out, err := cmd.Output()
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, "RESULT:"); ok {
			var r probe.Result
			if err := json.Unmarshal([]byte(rest), &r); err != nil {
				t.Fatalf("helper result %q: %v", rest, err)
			}
			return r
		}
	}
	t.Fatalf("probe helper in %s gave no result (%v): %s", ns, err, out)
	return probe.Result{}
}

func ip(t *testing.T, args ...string) {
	t.Helper()
	run(t, "ip", args...)
}

func ipIn(t *testing.T, ns string, args ...string) {
	t.Helper()
	run(t, "ip", append([]string{"-n", ns}, args...)...)
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}
