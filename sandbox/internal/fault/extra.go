package fault

import (
	"context"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/netdoctor/netdoctor/sandbox/internal/controlplane"
	"github.com/netdoctor/netdoctor/sandbox/internal/netcfg"
	"github.com/netdoctor/netdoctor/sandbox/internal/state"
)

// lossRules drop a random share (PERCENT, two decimals) of what the node
// sends on its link, after routing: with an overlay that is the
// encapsulated packet, so every packet is counted once. Neighbour discovery
// is spared (like ARP, which the inet family does not see), so the loss
// rate is the asked one and not made worse by failed resolutions.
func lossRules(percent string) []string {
	p, _ := strconv.ParseFloat(strings.TrimSuffix(percent, "%"), 64)
	n := int(math.Round(p * 100))
	oif := fmt.Sprintf("oifname %q ", netcfg.NodeLink)
	return []string{
		oif + "icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept",
		fmt.Sprintf("%snumgen random mod 10000 < %d drop", oif, n),
	}
}

// kubeProxyName is the state's process name of a node's kube-proxy.
func kubeProxyName(node string) string { return "kube-proxy/" + node }

// stopKubeProxy kills the node's kube-proxy (SIGTERM, then SIGKILL), as
// when it crashed: its rules stay, nothing syncs them any more.
func (a *applier) stopKubeProxy(ctx context.Context, name string) error {
	n, err := a.node(name)
	if err != nil {
		return err
	}
	pid := a.st.Process(kubeProxyName(n.Name))
	if pid == 0 {
		return fmt.Errorf("no kube-proxy recorded for node %s", n.Name)
	}
	cl := controlplane.Cmdline(pid)
	if !controlplane.Alive(pid) || !strings.Contains(cl, "kube-proxy") || !strings.Contains(cl, "--hostname-override="+n.Name+" ") {
		return fmt.Errorf("kube-proxy of node %s (PID %d) is not running", n.Name, pid)
	}
	if err := controlplane.Kill([]int{pid}, 3*time.Second); err != nil {
		return err
	}
	a.f.Changes = append(a.f.Changes, state.Change{Netns: n.Netns, Type: "kube-proxy-stopped", Node: n.Name, PID: pid})
	return nil
}

// startKubeProxy starts the node's kube-proxy again with the arguments up
// used and records its new PID in the state.
func startKubeProxy(st *state.State, node string) error {
	n, err := st.NodeByName(node)
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	l := controlplane.NewLayout(st.Dir)
	argv := append([]string{self, "component", "kube-proxy"}, controlplane.KubeProxyArgs(st, l, n.Name)...)
	p, err := controlplane.Start(st.Dir, kubeProxyName(n.Name), n.Netns, argv)
	if err != nil {
		return err
	}
	for i := range st.Processes {
		if st.Processes[i].Name == p.Name {
			st.Processes[i] = p
			return nil
		}
	}
	st.Processes = append(st.Processes, p)
	return nil
}

const ctMax = "net.netfilter.nf_conntrack_max"

func nsSysctl(ctx context.Context, netns, key string) (int, error) {
	out, err := netcfg.Output(ctx, "ip", "netns", "exec", netns, "sysctl", "-n", key)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(out))
}

// conntrackFull lowers nf_conntrack_max inside the node's namespace below
// its current count, so the kernel drops packets that need a new entry
// ("nf_conntrack: table full"). Only where the kernel keeps a per-netns
// value: on kernels where the sysctl is read-only outside the initial
// namespace the fault is skipped (lowering the host-wide value would hit
// the whole machine).
func (a *applier) conntrackFull(ctx context.Context, name string) error {
	n, err := a.node(name)
	if err != nil {
		return err
	}
	old, err := nsSysctl(ctx, n.Netns, ctMax)
	if err != nil {
		return fmt.Errorf("%w: fault conntrack-full skipped: %s is not readable in %s: %v", ErrUnsupported, ctMax, n.Netns, err)
	}
	count, err := nsSysctl(ctx, n.Netns, "net.netfilter.nf_conntrack_count")
	if err != nil {
		return err
	}
	hostBefore, err := netcfg.ReadSysctl(ctMax)
	if err != nil {
		return err
	}
	want := count / 2
	if want < 1 {
		want = 1
	}
	readOnly := fmt.Errorf("%w: fault conntrack-full skipped: this kernel keeps %s read-only outside the initial network namespace (one host-wide value; changing it would affect the whole machine)", ErrUnsupported, ctMax)
	// The sysctl's mode as the node namespace sees it (0444: not per-netns).
	mode, err := netcfg.Output(ctx, "ip", "netns", "exec", n.Netns, "stat", "-c", "%a", "/proc/sys/net/netfilter/nf_conntrack_max")
	if err != nil {
		return err
	}
	if m, err := strconv.ParseUint(strings.TrimSpace(mode), 8, 32); err != nil || m&0o200 == 0 {
		return readOnly
	}
	// procps sysctl exits 0 even when the kernel refuses: read back.
	if err := netcfg.SetSysctls(ctx, n.Netns, []string{fmt.Sprintf("%s=%d", ctMax, want)}); err != nil {
		return err
	}
	if got, err := nsSysctl(ctx, n.Netns, ctMax); err != nil || got != want {
		return readOnly
	}
	// Never change the host: a kernel that wrote through to the global
	// value gets it back at once.
	if hostAfter, _ := netcfg.ReadSysctl(ctMax); hostAfter != hostBefore {
		netcfg.SetSysctls(ctx, "", []string{ctMax + "=" + hostBefore})
		return fmt.Errorf("%w: fault conntrack-full skipped: %s is host-wide on this kernel (restored %s)", ErrUnsupported, ctMax, hostBefore)
	}
	a.f.Changes = append(a.f.Changes, state.Change{Netns: n.Netns, Type: "sysctl", Key: ctMax, Value: strconv.Itoa(old)})
	return nil
}

// HoldPortCommand is the hidden subcommand that holds a port (host-port fault).
const HoldPortCommand = "hold-port"

// hostPort starts a process in the node's namespace that binds PORT on all
// addresses (a dual-stack [::] socket) and waits until it holds the port.
func (a *applier) hostPort(ctx context.Context, name, port, proto string) error {
	n, err := a.node(name)
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	pname := fmt.Sprintf("fault-host-port/%s/%s/%s", n.Name, proto, port)
	p, err := controlplane.Start(a.st.Dir, pname, n.Netns, []string{self, HoldPortCommand, "--port", port, "--proto", proto})
	if err != nil {
		return err
	}
	a.f.Changes = append(a.f.Changes, state.Change{Netns: n.Netns, Type: "process", PID: p.PID, Node: n.Name})
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(p.Log)
		if strings.Contains(string(b), "holding "+proto+" port "+port) {
			return nil
		}
		if !controlplane.Alive(p.PID) || time.Now().After(deadline) {
			return fmt.Errorf("port holder for %s %s on %s did not start: %s", proto, port, n.Name, strings.TrimSpace(string(b)))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// KillFaultProcess stops a process a fault started, if PID still is one
// (the PID may have been reused after a crash).
func KillFaultProcess(pid int) error {
	if pid <= 0 || !controlplane.Alive(pid) || !strings.Contains(controlplane.Cmdline(pid), " "+HoldPortCommand+" ") {
		return nil
	}
	if err := controlplane.Kill([]int{pid}, 2*time.Second); err != nil {
		syscall.Kill(pid, syscall.SIGKILL)
		return err
	}
	return nil
}
