package e2e

import (
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/netdoctor/netdoctor/internal/diagnose"
)

// diagnoseJSON runs `netctl diagnose -o json` against c and decodes it.
func diagnoseJSON(t *testing.T, c *cluster, dir string, flags ...string) (jsonDiagnose, run) {
	t.Helper()
	args := append([]string{"diagnose", "--kubeconfig", c.Kubeconfig, "-o", "json"}, flags...)
	r := netctl(t, dir, args...)
	var out jsonDiagnose
	if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil {
		t.Fatalf("netctl %s: exit %d, stdout is not JSON (%v)\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.Code, err, r.Stdout, r.Stderr)
	}
	return out, r
}

// TestDiagnose: the node facts the host-network agents read name a
// node's missing pod routes and an odd link MTU, and nothing on a healthy
// cluster. Expectations come from kubectl's view of the nodes.
func TestDiagnose(t *testing.T) {
	c := sharedCluster(t, "e2edx", 4, "dual")
	names := c.nodeNames()
	sort.Strings(names)
	b, n := names[1], names[2]
	dir := t.TempDir()

	t.Run("healthy", func(t *testing.T) {
		out, r := diagnoseJSON(t, c, dir)
		if r.Code != 0 || len(out.Findings) != 0 {
			t.Fatalf("healthy cluster: exit %d, findings %+v\n%s", r.Code, out.Findings, r.Stderr)
		}
		for _, name := range names {
			f, ok := out.Facts[name]
			if !ok {
				t.Errorf("no facts for node %s", name)
				continue
			}
			// The agent is on the host network: it sees the node's routes
			// to every other node's pod CIDRs.
			routes := map[string]bool{}
			for _, rt := range f.Routes {
				routes[rt.Dst] = !rt.Reject
			}
			for _, o := range c.Nodes {
				for _, p := range o.PodCIDRs {
					if o.Name != name && !routes[p.String()] {
						t.Errorf("node %s facts lack the route to %s's pod CIDR %s", name, o.Name, p)
					}
				}
			}
		}
		tr := netctl(t, dir, "diagnose", "--kubeconfig", c.Kubeconfig)
		t.Logf("netctl diagnose:\n%s", tr.Stdout)
		if tr.Code != 0 || !strings.Contains(tr.Stdout, "Findings: none") || !strings.Contains(tr.Stdout, "1500") {
			t.Errorf("table output: exit %d\n%s", tr.Code, tr.Stdout)
		}
	})

	t.Run("pod-routes", func(t *testing.T) {
		c.fault(t, "pod-routes", b)
		tr := netctl(t, dir, "diagnose", "--kubeconfig", c.Kubeconfig)
		t.Logf("netctl diagnose:\n%s", tr.Stdout)
		out, r := diagnoseJSON(t, c, dir)
		if r.Code != 1 {
			t.Errorf("exit %d, want 1", r.Code)
		}
		var want []string
		for _, p := range c.node(b).PodCIDRs {
			want = append(want, p.String())
		}
		sort.Strings(want)
		if len(want) != 2 {
			t.Fatalf("node %s has pod CIDRs %v, want one per family", b, want)
		}
		got := map[string]bool{}
		for _, f := range out.Findings {
			if f.Kind != diagnose.KindRouteMissing || len(f.Nodes) != 2 || f.Nodes[1] != b {
				t.Errorf("unexpected finding %+v", f)
				continue
			}
			cidrs := strings.Split(f.Target, ",")
			sort.Strings(cidrs)
			if !reflect.DeepEqual(cidrs, want) || f.Family != "" {
				t.Errorf("node %s: missing %v (family %q), want %v in both families", f.Nodes[0], cidrs, f.Family, want)
			}
			if got[f.Nodes[0]] {
				t.Errorf("two route-missing findings for %s", f.Nodes[0])
			}
			got[f.Nodes[0]] = true
		}
		for _, x := range names {
			if x != b && !got[x] {
				t.Errorf("no route-missing finding for node %s (findings %+v)", x, out.Findings)
			}
		}
	})

	t.Run("mtu", func(t *testing.T) {
		c.fault(t, "mtu", n, "1280")
		out, r := diagnoseJSON(t, c, dir, "--auto-clean")
		if r.Code != 1 {
			t.Errorf("exit %d, want 1", r.Code)
		}
		if len(out.Findings) != 1 {
			t.Fatalf("findings %+v, want exactly one mtu-mismatch", out.Findings)
		}
		f := out.Findings[0]
		if f.Kind != diagnose.KindMTUMismatch || !reflect.DeepEqual(f.Nodes, []string{n}) ||
			!strings.Contains(f.Summary, "MTU 1280") || !strings.Contains(f.Summary, "have 1500") {
			t.Errorf("finding %+v, want mtu-mismatch on %s, 1280 vs 1500", f, n)
		}
		if left := c.managedObjects(t, "netdoctor-system"); len(left) != 0 {
			t.Errorf("--auto-clean left %v", left)
		}
	})
}
