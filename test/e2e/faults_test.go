package e2e

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/netdoctor/netdoctor/internal/probe"
)

// faultCluster is the shared dual-stack cluster, checked healthy first so a
// fault test never blames a fault for a failure that was already there.
func faultCluster(t *testing.T) (*cluster, string) {
	t.Helper()
	c := sharedCluster(t, "e2edual", 4, "dual")
	dir := workdir(t)
	rep, r := check(t, c, dir, "--mode", "pod", "--protocol", "tcp")
	if r.Code != 0 {
		t.Fatalf("baseline check before the fault is not clean: exit %d\n%s", r.Code, r.Stderr)
	}
	if len(rep.Rows) != len(allPairs(c, c, families(c.Family))) {
		t.Fatalf("baseline: %d rows", len(rep.Rows))
	}
	return c, dir
}

// assertFailed checks the exact set of FAILED pairs, that no other pair is
// anything but SUCCEEDED, the exit code 1, and each failure's class.
//
// cut names a node whose agent the fault may also cut off from the CLI (the
// API server's pod proxy crosses the same broken path: an isolated pod, a
// link that loses full-size packets). Then every pair that node sources is
// an EXCEPTION (the check could not run there) and is left out of want;
// otherwise those pairs are judged like the rest.
func assertFailed(t *testing.T, rep jsonReport, r run, all, want map[key]bool, cut string, classes ...probe.FailureClass) {
	t.Helper()
	got := byResult(t, rep)
	if cut != "" && len(got[resultException]) > 0 {
		sourced := pairsWhere(all, func(k key) bool { return k.Src == cut })
		sameKeys(t, "EXCEPTION pairs (agent on "+cut+" cut off)", got[resultException], sourced)
		for k, row := range got[resultException] {
			if !strings.Contains(row.Log, cut) {
				t.Errorf("%s: EXCEPTION log %q does not name the node", k, row.Log)
			}
		}
		want = pairsWhere(want, func(k key) bool { return k.Src != cut })
	} else if n := len(got[resultException]); n > 0 {
		t.Errorf("%d EXCEPTION rows, want none: %v", n, keys(got[resultException]))
	}
	sameKeys(t, "FAILED pairs", got[resultFailed], want)
	sameKeys(t, "all pairs", union(got), all)
	if r.Code != 1 {
		t.Errorf("exit code %d, want 1", r.Code)
	}
	for k, row := range got[resultFailed] {
		if len(classes) > 0 && !contains(classes, row.Class) {
			t.Errorf("%s: class %q (%s), want one of %v", k, row.Class, row.Log, classes)
		}
		if row.Log == "" {
			t.Errorf("%s: FAILED without a LOG line", k)
		}
	}
}

func TestFaults(t *testing.T) {
	c, dir := faultCluster(t)
	names := c.nodeNames()
	sort.Strings(names)
	a, b, n3 := names[0], names[1], names[2]
	fams := families(c.Family)
	all := allPairs(c, c, fams)
	between := func(x, y string) func(key) bool {
		return func(k key) bool { return (k.Src == x && k.Dst == y) || (k.Src == y && k.Dst == x) }
	}
	touches := func(x string) func(key) bool {
		return func(k key) bool { return k.Src != k.Dst && (k.Src == x || k.Dst == x) }
	}
	podTCP := []string{"--mode", "pod", "--protocol", "tcp"}

	cases := []struct {
		name    string
		fault   []string
		flags   []string
		want    func(key) bool
		cut     string // node whose agent the fault may cut off from the CLI
		classes []probe.FailureClass
	}{
		{"link", []string{"link", a, b}, podTCP, between(a, b), "", []probe.FailureClass{probe.ClassTimeout, probe.ClassUnreachable}},
		{"oneway", []string{"oneway", a, b}, podTCP, func(k key) bool { return k.Src == a && k.Dst == b }, "", []probe.FailureClass{probe.ClassTimeout, probe.ClassUnreachable}},
		{"port", []string{"port", b, "8889", "tcp"}, podTCP, func(k key) bool { return k.Dst == b && k.Src != b }, "", []probe.FailureClass{probe.ClassTimeout, probe.ClassRefused}},
		{"port-node", []string{"port", b, "8889", "tcp"}, []string{"--mode", "node", "--protocol", "tcp"}, func(k key) bool { return k.Dst == b && k.Src != b }, "", []probe.FailureClass{probe.ClassTimeout, probe.ClassRefused}},
		{"pod-routes", []string{"pod-routes", b}, podTCP, touches(b), "", []probe.FailureClass{probe.ClassTimeout, probe.ClassUnreachable}},
		// Full-size packets (the default packet size) are lost on n3's link in
		// both directions (PMTU discovery rescues neither: the drop is silent).
		{"mtu", []string{"mtu", n3, "1280"}, podTCP, touches(n3), n3, []probe.FailureClass{probe.ClassTimeout}},
		{"mtu-icmp", []string{"mtu", n3, "1280"}, []string{"--mode", "pod", "--protocol", "icmp"}, touches(n3), n3, []probe.FailureClass{probe.ClassTimeout, probe.ClassMessageTooLong}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c.fault(t, tc.fault...)
			rep, r := check(t, c, dir, tc.flags...)
			assertFailed(t, rep, r, all, pairsWhere(all, tc.want), tc.cut, tc.classes...)
		})
	}

	t.Run("dns-down", func(t *testing.T) {
		c.fault(t, "dns-down")
		rep, r := check(t, c, dir, "--mode", "pod", "--protocol", "dns")
		got := byResult(t, rep)
		if len(got[resultSucceeded])+len(got[resultException]) > 0 || len(got[resultFailed]) != len(c.Nodes)*len(c.DNSIPs) {
			t.Errorf("dns-down: want every one of %d pairs FAILED, got %d succeeded, %d failed, %d exceptions",
				len(c.Nodes)*len(c.DNSIPs), len(got[resultSucceeded]), len(got[resultFailed]), len(got[resultException]))
		}
		for k, row := range got[resultFailed] {
			if row.Class != probe.ClassTimeout && row.Class != probe.ClassRefused {
				t.Errorf("%s: class %q (%s)", k, row.Class, row.Log)
			}
		}
		if r.Code != 1 {
			t.Errorf("exit code %d, want 1", r.Code)
		}
	})

	t.Run("isolate", func(t *testing.T) {
		pod := agentPod(t, c, "netdoctor-system", n3)
		c.fault(t, "isolate", "netdoctor-system/"+pod)
		rep, r := check(t, c, dir, podTCP...)
		// The pod still reaches itself; every other pair touching it breaks.
		assertFailed(t, rep, r, all, pairsWhere(all, touches(n3)), n3, probe.ClassTimeout, probe.ClassUnreachable)
	})
}

// TestAgentNeverReady: one node cannot run its agent (its CPU is taken by
// another pod, so the agent pod stays Pending). That node's pairs are
// EXCEPTION rows naming the reason; every other pair is still checked.
func TestAgentNeverReady(t *testing.T) {
	c := sharedCluster(t, "e2edual", 4, "dual")
	names := c.nodeNames()
	sort.Strings(names)
	full := names[len(names)-1]
	var n struct {
		Status struct{ Allocatable map[string]string }
	}
	c.kubectlJSON(t, &n, "get", "node", full)
	c.kubectl(t, "create", "namespace", "e2e-hog")
	t.Cleanup(func() { c.kubectlErr("delete", "namespace", "e2e-hog", "--wait=false") })
	hog := fmt.Sprintf(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"hog","namespace":"e2e-hog"},
"spec":{"nodeName":%q,"containers":[{"name":"hog","image":"sandbox.local/echo:v1","args":["echo-server","--port=18080"],
"resources":{"requests":{"cpu":%q}}}]}}`, full, n.Status.Allocatable["cpu"])
	applyJSON(t, c, hog)

	dir := workdir(t)
	rep, r := check(t, c, dir, "--mode", "pod", "--protocol", "tcp", "--namespace", "e2e-unready",
		"--pod-wait-time", "15", "--auto-clean")
	all := allPairs(c, c, families(c.Family))
	got := byResult(t, rep)
	sameKeys(t, "EXCEPTION pairs", got[resultException], pairsWhere(all, func(k key) bool { return k.Src == full || k.Dst == full }))
	sameKeys(t, "SUCCEEDED pairs", got[resultSucceeded], pairsWhere(all, func(k key) bool { return k.Src != full && k.Dst != full }))
	for k, row := range got[resultException] {
		side := agentTarget
		if k.Src == full {
			side = agentSource
		}
		if p := row.Agent; p == nil || p.Node != full || p.Kind != agentNotReady || p.Side != side || !strings.Contains(p.Reason, "cpu") {
			t.Errorf("%s: agentProblem %+v, want the %s agent on %s not ready for lack of cpu", k, row.Agent, side, full)
		}
		if !strings.Contains(row.Log, full) || !strings.Contains(strings.ToLower(row.Log), "cpu") && !strings.Contains(row.Log, "Pending") && !strings.Contains(row.Log, "nschedulable") {
			t.Errorf("%s: EXCEPTION log %q does not name the node and why its agent is not ready", k, row.Log)
		}
	}
	if len(rep.Findings) != 1 || rep.Findings[0].Kind != "agent-not-ready" || len(rep.Findings[0].Nodes) != 1 || rep.Findings[0].Nodes[0] != full {
		t.Errorf("findings %+v, want one agent-not-ready for %s", rep.Findings, full)
	}
	if r.Code != 1 {
		t.Errorf("exit code %d, want 1", r.Code)
	}
	if r.Elapsed > 15*time.Second+60*time.Second {
		t.Errorf("check took %s with podWaitTime 15s", r.Elapsed)
	}
	if left := c.managedObjects(t, "e2e-unready"); len(left) > 0 {
		t.Errorf("autoClean left %v", left)
	}
}

func agentPod(t *testing.T, c *cluster, ns, nodeName string) string {
	t.Helper()
	var pl struct {
		Items []struct {
			Metadata struct{ Name string }
			Spec     struct{ NodeName string }
		}
	}
	c.kubectlJSON(t, &pl, "-n", ns, "get", "pods", "-l", "netdoctor.io/network=pod")
	for _, p := range pl.Items {
		if p.Spec.NodeName == nodeName {
			return p.Metadata.Name
		}
	}
	t.Fatalf("no pod-network agent on %s in %s", nodeName, ns)
	return ""
}

func applyJSON(t *testing.T, c *cluster, obj string) {
	t.Helper()
	f := t.TempDir() + "/obj.json"
	writeFile(t, f, obj)
	c.kubectl(t, "apply", "-f", f)
}

func keys[V any](m map[key]V) []string {
	var s []string
	for k := range m {
		s = append(s, k.String())
	}
	sort.Strings(s)
	return s
}

func union(m map[result]map[key]jsonRow) map[key]bool {
	u := map[key]bool{}
	for _, rows := range m {
		for k := range rows {
			u[k] = true
		}
	}
	return u
}

func contains[T comparable](s []T, v T) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
