package reach

import (
	"strings"
	"testing"

	"github.com/netdoctor/netdoctor/internal/report"
)

var nodes4 = []string{"n1", "n2", "n3", "n4"}

// mesh builds judged rows of a 4-node cluster; bad says which rows fail.
func mesh(bad func(src string, path PathKind, target string) bool) []Row {
	var rows []Row
	add := func(src string, path PathKind, target, addr string) {
		r := Row{Planned: Planned{Source: Source{Node: src, Vantage: VantagePod}, Path: path, TargetNode: target, Address: addr, Family: "IPv4"}, Result: Succeeded}
		if bad(src, path, target) {
			r.Result, r.Reasons = Failed, []string{"success rate 0 < 1: refused x10"}
		}
		rows = append(rows, r)
	}
	for _, s := range nodes4 {
		for _, t := range nodes4 {
			add(s, PathPod, t, "10.1."+t[1:]+".2:8889")
			add(s, PathNodePort, t, "100.64.0."+t[1:]+":30001")
		}
		add(s, PathClusterIP, "", "10.96.0.5:8889")
		add(s, PathAffinity, "", "10.96.0.6:8889")
		add(s, PathHairpin, s, "10.96.0.7:8889")
	}
	return rows
}

func kinds(fs []report.Finding) string {
	var s []string
	for _, f := range fs {
		s = append(s, f.Kind+"["+strings.Join(f.Nodes, ",")+f.Target+"]")
	}
	return strings.Join(s, " ")
}

func TestFindingsKubeProxy(t *testing.T) {
	rows := mesh(func(src string, path PathKind, target string) bool {
		return (src == "n2" && path.IsService()) || (path == PathNodePort && target == "n2")
	})
	fs := Findings(rows)
	if got := kinds(fs); got != "kube-proxy[n2]" {
		t.Fatalf("findings %s", got)
	}
	if !strings.Contains(fs[0].Evidence, "NodePort on n2's addresses failed from every client too") {
		t.Errorf("evidence %q", fs[0].Evidence)
	}
}

func TestFindingsNodePortNode(t *testing.T) {
	rows := mesh(func(src string, path PathKind, target string) bool { return path == PathNodePort && target == "n3" })
	if got := kinds(Findings(rows)); got != "nodeport-node[n3]" {
		t.Fatalf("findings %s", got)
	}
	// Everything broken everywhere: no culprit node is named.
	rows = mesh(func(string, PathKind, string) bool { return true })
	for _, f := range Findings(rows) {
		if f.Kind == FindingKubeProxy || f.Kind == FindingNodePortNode {
			t.Errorf("named a node although all fail: %s", kinds([]report.Finding{f}))
		}
	}
	if got := kinds(Findings(mesh(func(string, PathKind, string) bool { return false }))); got != "" {
		t.Errorf("healthy: %s", got)
	}
}

func TestFindingsHairpinOnly(t *testing.T) {
	rows := mesh(func(src string, path PathKind, target string) bool { return path == PathHairpin && src == "n4" })
	if got := kinds(Findings(rows)); got != "hairpin[n4]" {
		t.Fatalf("findings %s", got)
	}
}

func TestFindingsBackendNeverReached(t *testing.T) {
	var rows []Row
	for _, s := range nodes4 {
		for _, path := range []PathKind{PathClusterIP, PathNodePort} {
			p := vipRow(path, "a", "b", "c")
			p.Source = Source{Node: s, Vantage: VantagePod}
			rows = append(rows, Judge(p, Measured{Requests: 50, Succeeded: 50, MeanUs: 1, Backends: reached("a", "b")}, exp))
		}
	}
	fs := Findings(rows)
	if got := kinds(fs); got != "backend-never-reached[n3c]" {
		t.Fatalf("findings %s", got)
	}
}

func TestFindingsDNSAndFronts(t *testing.T) {
	var rows []Row
	for _, s := range nodes4 {
		for i, ep := range []string{"10.1.1.9", "10.1.3.9"} {
			r := Row{Planned: Planned{Source: Source{Node: s, Vantage: VantagePod}, Path: PathDNS, Address: ep, TargetNode: nodes4[i*2]}, Result: Succeeded}
			if ep == "10.1.3.9" {
				r.Result, r.Reasons = Failed, []string{"success rate 0 < 1: timeout x5"}
			}
			rows = append(rows, r)
		}
		rows = append(rows, Row{Planned: Planned{Source: Source{Node: s}, Path: PathClusterIP}, Result: Succeeded},
			Row{Planned: Planned{Source: Source{Node: s}, Path: PathIngress, Address: "100.64.9.1:80"}, Result: Failed, Reasons: []string{"refused"}},
			Row{Planned: Planned{Source: Source{Node: s}, Path: PathLoadBalancer, Address: "100.64.9.2:8889"}, Result: Succeeded},
			Row{Planned: Planned{Source: Source{Node: s}, Path: PathLoadBalancer, Address: "[fd00::2]:8889"}, Result: Failed, Reasons: []string{"timeout"}})
	}
	got := kinds(Findings(rows))
	for _, want := range []string{"path-down[ingress]", "loadbalancer-address[fd00::2]", "dns-replica[n310.1.3.9]"} {
		if !strings.Contains(got, want) {
			t.Errorf("findings %s lack %s", got, want)
		}
	}
	for i := range rows {
		if rows[i].Path == PathDNS {
			rows[i].Result = Failed
		}
	}
	if got := kinds(Findings(rows)); !strings.Contains(got, "dns-down[cluster-dns]") || strings.Contains(got, "dns-replica") {
		t.Errorf("all DNS down: %s", got)
	}
}

func TestHostOf(t *testing.T) {
	for in, want := range map[string]string{"10.0.0.1:80": "10.0.0.1", "[fd00::1]:80": "fd00::1", "fd00::1": "fd00::1", "10.0.0.1": "10.0.0.1"} {
		if got := hostOf(in); got != want {
			t.Errorf("hostOf(%s) = %s, want %s", in, got, want)
		}
	}
}
