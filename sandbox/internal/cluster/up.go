// Package cluster brings whole sandbox clusters up and down.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/netdoctor/netdoctor/sandbox/internal/addons"
	"github.com/netdoctor/netdoctor/sandbox/internal/controlplane"
	"github.com/netdoctor/netdoctor/sandbox/internal/netcfg"
	"github.com/netdoctor/netdoctor/sandbox/internal/netpol"
	"github.com/netdoctor/netdoctor/sandbox/internal/pki"
	"github.com/netdoctor/netdoctor/sandbox/internal/plan"
	"github.com/netdoctor/netdoctor/sandbox/internal/state"
)

// ErrBadInput marks errors caused by the user's input (exit code 2).
var ErrBadInput = errors.New("bad input")

// UpOptions are the inputs of Up.
type UpOptions struct {
	Name     string
	Nodes    int
	IPFamily string
	Zones    int
	Peer     string
	// NetctlBinary, when set, is pushed as the image
	// <registry>/netdoctor/netctl:<its version> once the registry is up
	// (a convenience: `netctl image push` does the work).
	NetctlBinary string
	Self         string // path of the netdoctor-sandbox binary
	Timeout      time.Duration
	KeepOnError  bool
	Overlay      string // "" or "vxlan" (--overlay)
	MTU          int    // pod/overlay MTU (--mtu); 0 = default

	// Conditions of real clusters (issue 8); the zero values keep today's cluster.
	PodSecurity          string // privileged, baseline or restricted: PodSecurity admission default
	IsolatedControlPlane bool   // no host routes to pod CIDRs
	WindowsNodes         int    // Ready nodes labelled kubernetes.io/os=windows that run no pod
	VirtualNodes         int    // Ready virtual-kubelet nodes (tainted) that run no pod
	// NetworkPolicy runs kube-router's firewall controller in every node
	// (package netpol); KubeRouter is its binary (default: next to Self).
	NetworkPolicy bool
	KubeRouter    string
	// Service paths (issue 12, services.go): kube-proxy's mode and the
	// Multus model (second segment, NetworkAttachmentDefinition CRD).
	ProxyMode string
	Multus    bool
}

// Validate checks the options without touching the machine.
func (o *UpOptions) Validate() error {
	p, err := plan.New(o.Name, 0, o.Nodes, o.IPFamily, o.Zones)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadInput, err)
	}
	if err := p.SetNetwork(o.Overlay, o.MTU); err != nil {
		return fmt.Errorf("%w: %w", ErrBadInput, err)
	}
	if o.Peer != "" && p.Overlay != "" {
		return fmt.Errorf("%w: --peer %q with --overlay %s: peering supports routed clusters only", ErrBadInput, o.Peer, p.Overlay)
	}
	if err := plan.ValidateRealism(o.PodSecurity, o.Nodes, o.WindowsNodes, o.VirtualNodes); err != nil {
		return fmt.Errorf("%w: %w", ErrBadInput, err)
	}
	if err := plan.ValidateProxyMode(o.ProxyMode); err != nil {
		return fmt.Errorf("%w: %w", ErrBadInput, err)
	}
	if o.Peer == o.Name {
		return fmt.Errorf("%w: --peer %q: a cluster cannot peer with itself", ErrBadInput, o.Peer)
	}
	if o.Peer != "" {
		ps, err := state.Load(o.Peer)
		if err != nil {
			return fmt.Errorf("%w: --peer %q: %w (bring it up first)", ErrBadInput, o.Peer, err)
		}
		if ps.Overlay != "" {
			return fmt.Errorf("%w: --peer %q: that cluster uses --overlay %s; peering supports routed clusters only", ErrBadInput, o.Peer, ps.Overlay)
		}
	}
	if _, err := state.Load(o.Name); err == nil {
		return fmt.Errorf("%w: cluster %q already exists: run `netdoctor-sandbox down --name %s` first", ErrBadInput, o.Name, o.Name)
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: the sandbox needs root (network namespaces, routes)", ErrBadInput)
	}
	if o.KubeRouter != "" && !o.NetworkPolicy {
		return fmt.Errorf("%w: --kube-router-binary needs --network-policy", ErrBadInput)
	}
	if o.NetworkPolicy {
		if o.KubeRouter == "" {
			o.KubeRouter = netpol.Binary(o.Self)
		}
		o.KubeRouter, _ = filepath.Abs(o.KubeRouter)
		if err := netpol.Check(o.KubeRouter); err != nil {
			return fmt.Errorf("%w: --network-policy: %w", ErrBadInput, err)
		}
	}
	return nil
}

// Neighbour-table limits: the defaults (128/512/1024) count entries across
// all namespaces and overflow at about 50 dual-stack nodes.
var neighSysctls = map[string]string{
	"net.ipv4.neigh.default.gc_thresh1": "8192",
	"net.ipv4.neigh.default.gc_thresh2": "32768",
	"net.ipv4.neigh.default.gc_thresh3": "65536",
	"net.ipv6.neigh.default.gc_thresh1": "8192",
	"net.ipv6.neigh.default.gc_thresh2": "32768",
	"net.ipv6.neigh.default.gc_thresh3": "65536",
}

type upper struct {
	o   UpOptions
	s   *state.State
	l   controlplane.Layout
	log io.Writer
	mu  sync.Mutex // guards s.Processes
	t0  time.Time
}

func (u *upper) logf(format string, a ...any) {
	fmt.Fprintf(u.log, "[%5.1fs] %s\n", time.Since(u.t0).Seconds(), fmt.Sprintf(format, a...))
}

// Up creates a cluster and returns its state once every node is Ready and
// CoreDNS is available. On failure it tears down what it created unless
// KeepOnError is set.
func Up(ctx context.Context, o UpOptions, log io.Writer) (*state.State, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	u := &upper{o: o, log: log, t0: time.Now()}
	if err := u.reserve(ctx); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	if err := u.run(ctx); err != nil {
		u.s.Phase = "failed"
		u.save()
		if o.KeepOnError {
			return u.s, fmt.Errorf("%w (cluster kept for inspection; logs in %s; run down --name %s)", err, filepath.Join(u.s.Dir, "logs"), o.Name)
		}
		u.logf("up failed: %v; tearing down", err)
		if derr := Down(context.Background(), o.Name, log); derr != nil {
			return nil, errors.Join(err, fmt.Errorf("cleaning up: %w", derr))
		}
		return nil, err
	}
	return u.s, nil
}

// reserve allocates the slot, saves the first state and installs the guard
// routes and sysctls: all under the machine-wide lock.
func (u *upper) reserve(ctx context.Context) error {
	unlock, err := state.Lock()
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := state.Load(u.o.Name); err == nil {
		return fmt.Errorf("%w: cluster %q already exists", ErrBadInput, u.o.Name)
	}
	slot, err := state.AllocateSlot(u.o.Name)
	if err != nil {
		return err
	}
	p, err := plan.New(u.o.Name, slot, u.o.Nodes, u.o.IPFamily, u.o.Zones)
	if err != nil {
		return err
	}
	if err := p.SetNetwork(u.o.Overlay, u.o.MTU); err != nil {
		return fmt.Errorf("%w: %w", ErrBadInput, err)
	}
	p.IsolatedControlPlane = u.o.IsolatedControlPlane
	p.ProxyMode = u.o.ProxyMode
	if u.o.Multus {
		p.AddSegment() // its ranges join the guards below
	}
	if err := p.AddAgentless(u.o.WindowsNodes, u.o.VirtualNodes); err != nil {
		return err
	}
	dir := state.Dir(u.o.Name)
	coredns := filepath.Join(filepath.Dir(u.o.Self), "netdoctor-coredns")
	u.s = &state.State{
		Plan:        *p,
		Dir:         dir,
		Kubeconfig:  filepath.Join(dir, "kubeconfig"),
		EtcdDataDir: filepath.Join("/dev/shm/netdoctor-sandbox", u.o.Name, "etcd"),
		Ports: map[string]int{
			"apiserver": 6443, "etcd": 12379 + 10*slot, "etcd-peer": 12380 + 10*slot,
			"controller-manager": 12381 + 10*slot, "scheduler": 12382 + 10*slot,
			"registry": 12383 + 10*slot,
		},
		// CoreDNS and the echo server run from local binaries; everything
		// else (netctl's agents) is pulled from the cluster's registry.
		Images: map[string]string{
			"sandbox.local/coredns:*": coredns,
			"sandbox.local/echo:*":    u.o.Self,
		},
		Registry:    fmt.Sprintf("127.0.0.1:%d", 12383+10*slot),
		RegistryDir: filepath.Join("/dev/shm/netdoctor-sandbox", u.o.Name, "registry"),
		Phase:       "creating",
	}
	u.s.PodSecurity = u.o.PodSecurity
	u.s.APIServerURL = "https://" + hostPort(p.APIServerIP, 6443)
	u.l = controlplane.NewLayout(dir)
	if err := u.s.Save(); err != nil {
		return err
	}
	u.logf("cluster %s: slot %d, bridge %s, nodes %v, pods %v, services %v", p.Name, slot, p.Bridge, p.NodeNets, p.ClusterCIDR, p.ServiceCIDR)
	if err := netcfg.AddGuards(ctx, p.Guards); err != nil {
		return fmt.Errorf("installing guard routes: %w", err)
	}
	u.logf("guard routes (unreachable, metric %d): %v", netcfg.GuardMetric, p.Guards)
	return raiseNeighLimits(ctx, u.logf)
}

func raiseNeighLimits(ctx context.Context, logf func(string, ...any)) error {
	saved, err := state.SavedSysctls()
	if err != nil {
		return err
	}
	if saved == nil {
		saved = map[string]string{}
		for k := range neighSysctls {
			v, err := netcfg.ReadSysctl(k)
			if err != nil {
				return err
			}
			saved[k] = v
		}
		if err := state.SaveSysctls(saved); err != nil {
			return err
		}
	}
	var kv []string
	for k, v := range neighSysctls {
		kv = append(kv, k+"="+v)
	}
	logf("raising neighbour-table limits (restored by the last down): %s", strings.Join(kv, " "))
	return netcfg.SetSysctls(ctx, "", kv)
}

func hostPort(ip string, port int) string {
	if strings.Contains(ip, ":") {
		return fmt.Sprintf("[%s]:%d", ip, port)
	}
	return fmt.Sprintf("%s:%d", ip, port)
}

func (u *upper) save() {
	u.mu.Lock()
	defer u.mu.Unlock()
	if err := u.s.Save(); err != nil {
		u.logf("saving state: %v", err)
	}
}

func (u *upper) start(name, netns string, argv []string) (state.Process, error) {
	p, err := controlplane.Start(u.s.Dir, name, netns, argv)
	if err != nil {
		return p, err
	}
	u.mu.Lock()
	u.s.Processes = append(u.s.Processes, p)
	u.mu.Unlock()
	return p, nil
}

func (u *upper) component(name string, args []string) (state.Process, error) {
	return u.start(name, "", append([]string{u.o.Self, "component", name}, args...))
}

func (u *upper) run(ctx context.Context) error {
	s, l := u.s, u.l
	var apiIPs []string
	apiIPs = append(apiIPs, s.BridgeIPs...)
	apiIPs = append(apiIPs, s.ServiceIP(1)...)
	apiIPs = append(apiIPs, "127.0.0.1")
	var nodeIPs []string
	for _, n := range s.Nodes {
		nodeIPs = append(nodeIPs, n.IPs...)
	}
	if _, err := pki.Create(filepath.Join(s.Dir, "pki"), apiIPs, nodeIPs); err != nil {
		return err
	}
	if err := controlplane.WriteAuth(l, s.Name, s.APIServerURL); err != nil {
		return err
	}
	if err := os.MkdirAll(s.EtcdDataDir, 0o700); err != nil {
		return fmt.Errorf("creating etcd data dir: %w", err)
	}
	etcd, err := u.start("etcd", "", controlplane.EtcdArgs(s))
	if err != nil {
		return err
	}
	registry, err := u.startRegistry()
	if err != nil {
		return err
	}
	u.save()
	// The network and etcd come up in parallel.
	if err := netcfg.CreateBridge(ctx, &s.Plan); err != nil {
		return fmt.Errorf("creating bridge: %w", err)
	}
	if err := netcfg.CreateNodes(ctx, &s.Plan); err != nil {
		return err
	}
	u.logf("network: bridge %s and %d node namespaces ready", s.Bridge, len(s.Nodes))
	if err := u.createSegment(ctx); err != nil {
		return err
	}
	if err := controlplane.WaitFor(ctx, "etcd", 100*time.Millisecond, func(ctx context.Context) error {
		if err := controlplane.CheckAlive(etcd); err != nil {
			return err
		}
		return httpOK(ctx, fmt.Sprintf("http://127.0.0.1:%d/health", s.Ports["etcd"]))
	}); err != nil {
		return err
	}
	u.logf("etcd ready")
	apiArgs, err := controlplane.WithPodSecurity(s, l, controlplane.APIServerArgs(s, l))
	if err != nil {
		return err
	}
	api, err := u.component("kube-apiserver", apiArgs)
	if err != nil {
		return err
	}
	u.save()
	client, err := Client(s.Kubeconfig)
	if err != nil {
		return err
	}
	if err := controlplane.WaitFor(ctx, "kube-apiserver /readyz", 200*time.Millisecond, func(ctx context.Context) error {
		if err := controlplane.CheckAlive(api); err != nil {
			return err
		}
		_, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return err
	}); err != nil {
		if errors.Is(err, controlplane.ErrExited) {
			return fmt.Errorf("%w: %s", err, tail(api.Log))
		}
		return err
	}
	u.logf("kube-apiserver ready at %s", s.APIServerURL)
	if _, err := u.component("kube-controller-manager", controlplane.ControllerManagerArgs(s, l)); err != nil {
		return err
	}
	if _, err := u.component("kube-scheduler", controlplane.SchedulerArgs(s, l)); err != nil {
		return err
	}
	if _, err := u.start("kubelet", "", []string{u.o.Self, "kubelet", "--state", s.Dir}); err != nil {
		return err
	}
	for _, n := range s.Nodes {
		argv := append([]string{u.o.Self, "component", "kube-proxy"}, controlplane.KubeProxyArgs(s, l, n.Name)...)
		if _, err := u.start("kube-proxy/"+n.Name, n.Netns, argv); err != nil {
			return err
		}
	}
	u.save()
	u.logf("controller-manager, scheduler, kubelet and %d kube-proxies started", len(s.Nodes))
	var synced chan error // kube-router's first sync (--network-policy)
	if u.o.NetworkPolicy {
		s.NetworkPolicy = netpol.Engine
		if err := netpol.Start(ctx, client, s, u.o.KubeRouter, l.Kubeconfig(netpol.KubeconfigFile), u.start); err != nil {
			return err
		}
		u.save()
		u.logf("NetworkPolicy engine: %d x %s started", len(s.Nodes), netpol.Engine)
		// Its first sync overlaps with the wait for CoreDNS and the nodes.
		snap := *s
		snap.Processes = append([]state.Process(nil), s.Processes...)
		synced = make(chan error, 1)
		go func() { synced <- netpol.WaitSynced(ctx, &snap, controlplane.CheckAlive) }()
	}
	if err := u.waitRegistry(ctx, registry); err != nil {
		return err
	}
	if u.o.Peer != "" {
		if err := Peer(ctx, s, u.o.Peer); err != nil {
			return err
		}
		u.save()
		u.logf("peered with cluster %s", u.o.Peer)
	}
	if err := controlplane.WaitFor(ctx, "CoreDNS objects", 500*time.Millisecond, func(ctx context.Context) error {
		return addons.CoreDNS(ctx, client, s.DNSIPs)
	}); err != nil {
		return err
	}
	if err := u.installMultus(ctx); err != nil {
		return err
	}
	if err := u.waitReady(ctx, client); err != nil {
		return err
	}
	if synced != nil {
		if err := <-synced; err != nil {
			return err
		}
		u.logf("kube-router synced on %d nodes: NetworkPolicies enforced", len(s.Nodes))
	}
	s.Phase = "ready"
	u.save()
	u.logf("cluster %s ready: %d nodes Ready, CoreDNS available", s.Name, len(s.Nodes))
	return nil
}

// waitReady waits for every node to be Ready and CoreDNS to be available,
// failing early when a daemon dies.
func (u *upper) waitReady(ctx context.Context, c kubernetes.Interface) error {
	lastNodes := -1
	return controlplane.WaitFor(ctx, "nodes Ready and CoreDNS available", 500*time.Millisecond, func(ctx context.Context) error {
		for _, p := range u.s.Processes {
			if err := controlplane.CheckAlive(p); err != nil {
				return err
			}
		}
		nodes, err := c.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		ready := 0
		for _, n := range nodes.Items {
			for _, cond := range n.Status.Conditions {
				if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		if ready != lastNodes {
			u.logf("%d/%d nodes Ready", ready, len(u.s.Nodes))
			lastNodes = ready
		}
		if ready < len(u.s.Nodes) {
			return fmt.Errorf("%d/%d nodes Ready", ready, len(u.s.Nodes))
		}
		d, err := c.AppsV1().Deployments("kube-system").Get(ctx, "coredns", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if d.Status.AvailableReplicas < *d.Spec.Replicas {
			return fmt.Errorf("CoreDNS %d/%d replicas available", d.Status.AvailableReplicas, *d.Spec.Replicas)
		}
		return nil
	})
}

// Client returns a clientset for a kubeconfig.
func Client(kubeconfig string) (*kubernetes.Clientset, error) {
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig %s: %w", kubeconfig, err)
	}
	rc.QPS, rc.Burst = 100, 200
	rc.Timeout = 10 * time.Second
	return kubernetes.NewForConfig(rc)
}

func httpOK(ctx context.Context, url string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return nil
}

// tail returns the last lines of a log file for error messages.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 8 {
		lines = lines[len(lines)-8:]
	}
	return strings.Join(lines, "\n")
}
