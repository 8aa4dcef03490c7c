// Package netpol runs the sandbox's NetworkPolicy engine (`up
// --network-policy`): kube-router's firewall controller, one process per node
// inside the node's network namespace, enforcing networking.k8s.io/v1
// NetworkPolicies (ingress and egress, IPv4 and IPv6) with iptables and
// ipset in that namespace only.
//
// Why kube-router: sigs.k8s.io/kube-network-policies hands new connections
// to userspace with an nftables `queue` verdict, and this machine's kernel is
// built without NFT_QUEUE (`nft add rule ... queue num 100` fails with "No
// such file or directory"), so it cannot enforce anything here. kube-router's
// firewall controller needs only iptables (nft backend here, through
// nft_compat) and ipset, which the kernel has.
//
// kube-router v2.1.0 has published security advisories: it is tolerable only
// inside the sandbox (a local test cluster in network namespaces of this
// machine, talking to nothing but the sandbox's API server) and is never
// part of anything netdoctor ships.
package netpol

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/netdoctor/netdoctor/sandbox/internal/state"
)

const (
	// Version is the kube-router release the Makefile builds.
	Version = "v2.1.0"
	// Build is the version the built binary reports: Version plus the
	// sandbox's dual-stack and IPv6 fixes (see hack/build-kube-router.sh).
	Build = Version + "+netdoctor.3"
	// Engine names the engine in the state and in messages.
	Engine = "kube-router " + Build + " (firewall controller)"
	// BinaryName is the file next to netdoctor-sandbox.
	BinaryName = "kube-router"
	// MakeTarget builds BinaryName.
	MakeTarget = "make sandbox-kube-router"
	// User is the static-token identity kube-router authenticates as.
	User = "netdoctor:kube-router"
	// KubeconfigFile is its kubeconfig in the cluster's state directory.
	KubeconfigFile = "kube-router.kubeconfig"
	// MetricsPort is where kube-router serves /metrics, on 127.0.0.1 inside
	// each node namespace (its health port cannot be bound to one address,
	// so it is disabled).
	MetricsPort = 20241
	// ProcessPrefix prefixes the names of the processes in the state.
	ProcessPrefix = "kube-router/"
	// clusterRole is both the ClusterRole and the ClusterRoleBinding name.
	clusterRole = "netdoctor:kube-router"
)

// Binary returns where kube-router is expected: next to the sandbox binary.
func Binary(self string) string { return filepath.Join(filepath.Dir(self), BinaryName) }

// Check verifies that kube-router and the tools it runs are present. Errors
// name what to do.
func Check(bin string) error {
	fi, err := os.Stat(bin)
	if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		return fmt.Errorf("%s is missing: run `%s` (builds kube-router %s)", bin, MakeTarget, Build)
	}
	// kube-router prints its version on stderr.
	out, _ := exec.Command(bin, "--version").CombinedOutput()
	if !strings.Contains(string(out), "version "+Build+",") {
		return fmt.Errorf("%s is not kube-router %s (it says %q): run `%s`", bin, Build, strings.TrimSpace(string(out)), MakeTarget)
	}
	for _, tool := range []string{"ipset", "iptables", "iptables-save", "iptables-restore", "ip6tables", "ip6tables-save", "ip6tables-restore"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("kube-router needs %s, which is not on PATH (Debian packages ipset and iptables)", tool)
		}
	}
	return nil
}

// Families reports which IP families the plan's Service ranges carry.
func Families(serviceCIDRs []string) (v4, v6 bool) {
	for _, c := range serviceCIDRs {
		if strings.Contains(c, ":") {
			v6 = true
		} else {
			v4 = true
		}
	}
	return v4, v6
}

// Args returns kube-router's command line (without the binary) for node:
// only the firewall controller, no routing, no service proxy, no load
// balancer, no CNI config, no health listener, metrics on 127.0.0.1.
func Args(s *state.State, kubeconfig, node string) []string {
	v4, v6 := Families(s.ServiceCIDR)
	return []string{
		"--kubeconfig=" + kubeconfig,
		"--hostname-override=" + node,
		"--run-firewall=true", "--run-router=false", "--run-service-proxy=false", "--run-loadbalancer=false",
		"--enable-cni=false",
		fmt.Sprintf("--enable-ipv4=%t", v4), fmt.Sprintf("--enable-ipv6=%t", v6),
		"--service-cluster-ip-range=" + strings.Join(s.ServiceCIDR, ","),
		"--health-port=0",
		"--metrics-addr=127.0.0.1", fmt.Sprintf("--metrics-port=%d", MetricsPort),
		"--iptables-sync-period=1m",
		"--cache-sync-timeout=2m",
		"--v=1",
	}
}

// EnsureRBAC creates the ClusterRole kube-router's firewall controller
// needs (read nodes, pods, namespaces, services, endpoints, endpoint slices
// and network policies; it starts informers for all of them) and binds it to
// User.
func EnsureRBAC(ctx context.Context, c kubernetes.Interface) error {
	read := []string{"get", "list", "watch"}
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: clusterRole, Labels: map[string]string{"app.kubernetes.io/managed-by": "netdoctor-sandbox"}},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"nodes", "pods", "namespaces", "services", "endpoints"}, Verbs: read},
			{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: read},
			{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"networkpolicies"}, Verbs: read},
		},
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: clusterRole, Labels: role.Labels},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: clusterRole},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: User}},
	}
	if _, err := c.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating ClusterRole %s: %w", clusterRole, err)
	}
	if _, err := c.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating ClusterRoleBinding %s: %w", clusterRole, err)
	}
	return nil
}

// StartFunc starts argv as a daemon named name inside netns and records it
// in the cluster state (cluster's upper.start).
type StartFunc func(name, netns string, argv []string) (state.Process, error)

// Start creates the RBAC objects and starts one kube-router per node inside
// the node's network namespace, each once its Node object exists
// (kube-router reads its node's addresses at start and exits without it).
func Start(ctx context.Context, c kubernetes.Interface, s *state.State, bin, kubeconfig string, start StartFunc) error {
	if err := EnsureRBAC(ctx, c); err != nil {
		return err
	}
	want := map[string]bool{}
	for _, n := range s.Nodes {
		want[n.Name] = true
	}
	for {
		list, err := c.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err == nil {
			have := 0
			for _, n := range list.Items {
				if want[n.Name] {
					have++
				}
			}
			if have == len(want) {
				break
			}
			err = fmt.Errorf("%d/%d nodes registered", have, len(want))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the nodes before starting kube-router: %w (last: %v)", ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
	for _, n := range s.Nodes {
		argv := append([]string{bin}, Args(s, kubeconfig, n.Name)...)
		if _, err := start(ProcessPrefix+n.Name, n.Netns, argv); err != nil {
			return err
		}
	}
	return nil
}

// synced reports whether kube-router finished a full policy sync in netns for
// every family: its FORWARD chain then ends with the rule accepting traffic
// marked as compliant (0x20000), which only a full sync writes.
func synced(ctx context.Context, netns string, v4, v6 bool) error {
	var tools []string
	if v4 {
		tools = append(tools, "iptables")
	}
	if v6 {
		tools = append(tools, "ip6tables")
	}
	for _, t := range tools {
		cmd := exec.CommandContext(ctx, "nsenter", "--net=/run/netns/"+netns, "--", t, "-w", "5", "-t", "filter", "-S", "KUBE-ROUTER-FORWARD")
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %s -S KUBE-ROUTER-FORWARD: %v: %s", netns, t, err, strings.TrimSpace(string(out)))
		}
		if !strings.Contains(string(out), "0x20000/0x20000") {
			return fmt.Errorf("%s: %s: kube-router has not finished its first sync", netns, t)
		}
	}
	return nil
}

// WaitSynced waits until every node's kube-router completed a full sync
// (so policies that exist are enforced), failing early when one exits.
func WaitSynced(ctx context.Context, s *state.State, alive func(state.Process) error) error {
	v4, v6 := Families(s.ServiceCIDR)
	pending := map[string]bool{}
	for _, n := range s.Nodes {
		pending[n.Netns] = true
	}
	var last error
	for {
		for _, p := range s.Processes {
			if strings.HasPrefix(p.Name, ProcessPrefix) {
				if err := alive(p); err != nil {
					return err
				}
			}
		}
		var mu sync.Mutex
		var wg sync.WaitGroup
		sem := make(chan struct{}, 8)
		var todo []string
		for ns := range pending {
			todo = append(todo, ns)
		}
		for _, ns := range todo {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				err := synced(ctx, ns, v4, v6)
				mu.Lock()
				defer mu.Unlock()
				if err == nil {
					delete(pending, ns)
				} else {
					last = err
				}
			}()
		}
		wg.Wait()
		if len(pending) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for kube-router's first sync on %d nodes: %w (last: %v)", len(pending), ctx.Err(), last)
		case <-time.After(500 * time.Millisecond):
		}
	}
}
