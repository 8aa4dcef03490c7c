package reachmon

import (
	"strings"
	"testing"
	"time"

	"github.com/netdoctor/netdoctor/internal/load"
	"github.com/netdoctor/netdoctor/internal/monitor/api"
)

func TestTargetsFromPeers(t *testing.T) {
	cfg := Config{NodePort: 31082}
	peers := []api.Peer{
		{Name: "a-private_network", Node: "a", Pod: "agent-a", Network: api.NetworkPod, IPs: []string{"10.244.0.5", "fd00::5"}, Port: 8890},
		{Name: "b-private_network", Node: "b", Pod: "agent-b", Network: api.NetworkPod, IPs: []string{"10.244.1.5"}, Port: 8890, Skip: "not ready"},
		{Name: "a-host_network", Node: "a", Pod: "host-a", Network: api.NetworkHost, IPs: []string{"172.18.0.2", "fc00::2", "bogus"}, Port: 8890},
	}
	var got []string
	for _, tg := range Targets(cfg, peers) {
		got = append(got, tg.ID+" "+tg.URL)
	}
	want := []string{
		"pod|IPv4|10.244.0.5:8890|a|agent-a http://10.244.0.5:8890/echo",
		"pod|IPv6|[fd00::5]:8890|a|agent-a http://[fd00::5]:8890/echo",
		"nodeport|IPv4|172.18.0.2:31082|a| http://172.18.0.2:31082/echo",
		"nodeport|IPv6|[fc00::2]:31082|a| http://[fc00::2]:31082/echo",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("targets:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	cfg.NodePort = 0
	if n := len(Targets(cfg, peers)); n != 2 {
		t.Fatalf("without a NodePort: %d targets, want the 2 pod ones", n)
	}
}

func TestSummarizeOneSeriesPerKindAndFamily(t *testing.T) {
	h := func(v int64) *load.Histogram { x := load.NewHistogram(); x.Record(v); return x }
	paths := Summarize([]load.TargetResult{
		{ID: "pod|IPv4|10.0.0.2:8890|b|agent-b", Requests: 3, Succeeded: 2, Errors: map[string]int64{"timeout": 1}, Latency: h(200),
			Backends: []load.Backend{{Node: "b", Pod: "agent-b", PodIP: "10.0.0.2", ClientAddr: "10.0.0.1", Count: 2}}},
		{ID: "pod|IPv4|10.0.0.1:8890|a|agent-a", Requests: 3, Succeeded: 3, Latency: h(100)},
		// The engine keeps a backend per client address it saw; the row
		// names each backend once.
		{ID: "clusterip|IPv6|[fd00::1]:8890||", Requests: 3, Succeeded: 3, Latency: h(300), Backends: []load.Backend{
			{Node: "a", Pod: "agent-a", ClientAddr: "fd00::a", Count: 1}, {Node: "a", Pod: "agent-a", ClientAddr: "fd00::b", Count: 1},
			{Node: "b", Pod: "agent-b", ClientAddr: "fd00::a", Count: 1}}},
	})
	if len(paths) != 2 {
		t.Fatalf("paths %+v, want 2", paths)
	}
	c, p := paths[0], paths[1]
	if c.Kind != "clusterip" || c.Family != "IPv6" || c.Targets != 1 || len(c.Rows) != 1 {
		t.Fatalf("first path %+v", c)
	}
	if r := c.Rows[0]; r.Address != "[fd00::1]:8890" || r.TargetNode != "" || len(r.Backends) != 2 ||
		r.Backends[0].Pod != "agent-a" || r.Backends[0].Count != 2 || r.Backends[1].Pod != "agent-b" {
		t.Errorf("clusterip row %+v", r)
	}
	if len(p.Rows) != 2 || p.Rows[0].Address != "10.0.0.1:8890" || p.Rows[1].TargetNode != "b" || p.Rows[1].TargetPod != "agent-b" ||
		p.Rows[1].Requests != 3 || p.Rows[1].Succeeded != 2 || p.Rows[1].Errors["timeout"] != 1 || len(p.Rows[1].Backends) != 1 {
		t.Errorf("pod rows %+v", p.Rows)
	}
	if p.Kind != "pod" || p.Family != "IPv4" || p.Targets != 2 || p.Requests != 6 || p.Succeeded != 5 ||
		p.Errors["timeout"] != 1 || p.Latency.Count() != 2 {
		t.Errorf("pod path %+v", p)
	}
}

func TestConfigValidateNamesFlags(t *testing.T) {
	err := Config{QPS: 0, Duration: 0, Timeout: time.Second, ServicePort: 0}.Validate()
	for _, want := range []string{"--reach-qps: ", "--reach-duration: ", "--reach-service: ", "--reach-service-port: "} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v should name %s", err, want)
		}
	}
}

// The server's loadbalancer, ingress and gateway addresses become targets
// of their kind with the Host header the Ingress and HTTPRoute route;
// an address that is no IP is left out.
func TestVIPTargets(t *testing.T) {
	got := VIPTargets(api.ReachTargets{Targets: []api.ReachVIP{
		{Kind: "loadbalancer", IP: "172.30.0.10", Port: 8890},
		{Kind: "ingress", IP: "fd00::11", Port: 80, Host: "reach.netdoctor.invalid"},
		{Kind: "gateway", IP: "lb.example", Port: 80, Host: "reach.netdoctor.invalid"},
	}})
	var rows []string
	for _, tg := range got {
		rows = append(rows, tg.ID+" "+tg.URL+" "+tg.Host)
	}
	want := []string{
		"loadbalancer|IPv4|172.30.0.10:8890|| http://172.30.0.10:8890/echo ",
		"ingress|IPv6|[fd00::11]:80|| http://[fd00::11]:80/echo reach.netdoctor.invalid",
	}
	if strings.Join(rows, "\n") != strings.Join(want, "\n") {
		t.Fatalf("targets:\n%s\nwant:\n%s", strings.Join(rows, "\n"), strings.Join(want, "\n"))
	}
}
