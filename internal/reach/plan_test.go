package reach

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func testView() *View {
	v := &View{Port: 8889, Families: []string{"IPv4", "IPv6"}, PodAgents: map[string]*Agent{}, HostAgents: map[string]*Agent{}, Hairpin: map[string]ServiceView{}}
	for i, n := range []string{"n1", "n2", "n3"} {
		d := string(rune('1' + i))
		v.Nodes = append(v.Nodes, NodeView{Name: n, IPs: []string{"100.64.0." + d, "fd0d::" + d}})
		v.PodAgents[n] = &Agent{Node: n, Pod: "pod-" + n, IPs: []string{"10.1." + d + ".2", "fd01:" + d + "::2"}, Ready: true}
		v.HostAgents[n] = &Agent{Node: n, Pod: "host-" + n, IPs: []string{"100.64.0." + d, "fd0d::" + d}, Ready: true}
		for _, ip := range v.PodAgents[n].IPs {
			ep := Endpoint{Node: n, Pod: "pod-" + n, IP: ip}
			v.Main.Endpoints = append(v.Main.Endpoints, ep)
			v.Local.Endpoints = append(v.Local.Endpoints, ep)
			v.Affinity.Endpoints = append(v.Affinity.Endpoints, ep)
		}
		v.Hairpin[n] = ServiceView{ClusterIPs: []string{"10.96.1." + d}, Endpoints: []Endpoint{{Node: n, Pod: "pod-" + n, IP: "10.1." + d + ".2"}}}
	}
	v.Main.ClusterIPs, v.Main.NodePort = []string{"10.96.0.5", "fd02::5"}, 30001
	v.Local.NodePort = 30002
	v.Affinity.ClusterIPs = []string{"10.96.0.6", "fd02::6"}
	v.PodAgents["n3"].Ready, v.PodAgents["n3"].Problem = false, "agent pod pod-n3 on n3 not ready: ImagePullBackOff"
	return v
}

func count(rows []Planned, f func(Planned) bool) int {
	n := 0
	for _, r := range rows {
		if f(r) {
			n++
		}
	}
	return n
}

func TestPlan(t *testing.T) {
	v := testView()
	paths := map[PathKind]bool{PathPod: true, PathClusterIP: true, PathNodePort: true, PathLocal: true, PathAffinity: true, PathHairpin: true}
	rows := Plan(paths, v)
	from := func(n string, p PathKind) func(Planned) bool {
		return func(r Planned) bool { return r.Source.Node == n && r.Path == p && r.Skip == "" }
	}
	// n1: 3 nodes x 2 families of pod IPs, one of them (n3) not ready.
	if got := count(rows, from("n1", PathPod)); got != 4 {
		t.Errorf("pod rows from n1: %d, want 4", got)
	}
	// Every node's every InternalIP at the NodePort.
	if got := count(rows, from("n1", PathNodePort)); got != 6 {
		t.Errorf("nodeport rows from n1: %d, want 6", got)
	}
	// From the host network to every OTHER node, only that node's agent.
	var loc []Planned
	for _, r := range rows {
		if r.Path == PathLocal && r.Source.Node == "n1" {
			loc = append(loc, r)
		}
	}
	if len(loc) != 4 || loc[0].Source.Vantage != VantageHost || loc[0].TargetNode == "n1" {
		t.Fatalf("local rows %+v", loc)
	}
	for _, r := range loc {
		if len(r.Expected) != 1 || r.Expected[0].Node != r.TargetNode || r.LocalNode != r.TargetNode || !strings.HasPrefix(r.ClientIP, map[string]string{"IPv4": "100.64.0.1", "IPv6": "fd0d::1"}[r.Family]) {
			t.Errorf("local row %+v", r)
		}
	}
	// The not-ready agent's rows are exceptions, with its reason.
	if got := count(rows, func(r Planned) bool {
		return r.Source.Node == "n3" && r.Source.Vantage == VantagePod && strings.Contains(r.Skip, "ImagePullBackOff")
	}); got == 0 {
		t.Error("no skipped rows for the not-ready source")
	}
	aff := count(rows, func(r Planned) bool {
		return r.Path == PathAffinity && r.Single && len(r.Expected) == 3 && r.Skip == ""
	})
	if aff != 4 { // n1, n2 x 2 families
		t.Errorf("affinity rows %d", aff)
	}
	hp := count(rows, func(r Planned) bool {
		return r.Path == PathHairpin && r.Skip == "" && r.Expected[0].Node == r.Source.Node
	})
	if hp != 2 {
		t.Errorf("hairpin rows %d", hp)
	}
	ids := map[string]bool{}
	for _, r := range rows {
		if ids[r.ID] {
			t.Errorf("duplicate id %s", r.ID)
		}
		ids[r.ID] = true
	}
	v.Families = []string{"IPv6"}
	for _, r := range Plan(paths, v) {
		if r.Family != "IPv6" {
			t.Fatalf("IPv4 row with only IPv6 asked: %+v", r)
		}
	}
}

func TestMultusIPs(t *testing.T) {
	pod := func(key, val string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Annotations: map[string]string{key: val}}}
	}
	ips, err := multusIPs(pod(NetworkStatusAnnotation, `[{"name":"cbr0","ips":["10.1.1.2"],"default":true},{"name":"ns/macvlan","interface":"net1","ips":["192.168.5.2","fd05::2"]}]`))
	if err != nil || len(ips) != 2 || ips[0] != "192.168.5.2" {
		t.Errorf("network-status: %v %v", ips, err)
	}
	ips, err = multusIPs(pod(OldNetworkStatusAnnotation, `[{"name":"cbr0","ips":["10.1.1.2"]},{"name":"macvlan","ips":["192.168.5.3"]}]`))
	if err != nil || len(ips) != 1 || ips[0] != "192.168.5.3" {
		t.Errorf("old key, no default mark: %v %v", ips, err)
	}
	if _, err := multusIPs(pod(NetworkStatusAnnotation, `{`)); err == nil {
		t.Error("bad JSON accepted")
	}
}

func TestOutputs(t *testing.T) {
	rows := []Row{
		Judge(vipRow(PathClusterIP, "a", "b"), Measured{Requests: 100, Succeeded: 100, MeanUs: 1500, P50Us: 1400, P99Us: 4000, MaxUs: 9000, StatusCodes: map[int]int64{200: 100}, Backends: reached("a", "b")}, exp),
		Judge(vipRow(PathNodePort, "a", "b"), Measured{Requests: 100, Succeeded: 50, MeanUs: 1500, Errors: map[string]int64{"refused": 50}, Backends: reached("a")}, exp),
	}
	rows[0].Source = Source{Node: "n1", Vantage: VantagePod}
	rows[1].Source = Source{Node: "n1", Vantage: VantagePod}
	rep := &Report{Rounds: 1, Spec: DefaultSpec(), Rows: rows, Findings: Findings(rows), Notes: []string{"loadbalancer path not run: x"}}
	var b bytes.Buffer
	if err := rep.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Summary struct{ Total, Succeeded, Failed int }
		Results []struct {
			Path        string
			Result      string
			SuccessRate float64
			LatencyMs   struct{ Mean, P99 float64 }
			StatusCodes map[string]int64
			Backends    struct {
				Reached  []struct{ Pod string }
				Expected []struct{ Pod string }
				Missing  []struct{ Pod string }
			}
		}
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Summary.Total != 2 || doc.Summary.Failed != 1 || doc.Results[0].LatencyMs.Mean != 1.5 || doc.Results[0].LatencyMs.P99 != 4 ||
		doc.Results[0].StatusCodes["200"] != 100 || doc.Results[1].SuccessRate != 0.5 || len(doc.Results[1].Backends.Missing) != 1 {
		t.Errorf("json %+v", doc)
	}
	b.Reset()
	rep.WriteTable(&b, false)
	out := b.String()
	for _, want := range []string{"source n1 (pod)", "BACKENDS", "2/2", "1/2", "FAILED nodeport from n1 (pod)", "note: loadbalancer path not run", "1 succeeded, 1 failed"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	b.Reset()
	if err := rep.WriteJUnit(&b); err != nil || !strings.Contains(b.String(), `<testsuite name="reach nodeport" tests="1" failures="1"`) || !strings.Contains(b.String(), "backends 1/2: never reached b on n2") {
		t.Errorf("junit %v:\n%s", err, b.String())
	}
}
