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
		{Name: "a-private_network", Network: api.NetworkPod, IPs: []string{"10.244.0.5", "fd00::5"}, Port: 8890},
		{Name: "b-private_network", Network: api.NetworkPod, IPs: []string{"10.244.1.5"}, Port: 8890, Skip: "not ready"},
		{Name: "a-host_network", Network: api.NetworkHost, IPs: []string{"172.18.0.2", "fc00::2", "bogus"}, Port: 8890},
	}
	var got []string
	for _, tg := range Targets(cfg, peers) {
		got = append(got, tg.ID+" "+tg.URL)
	}
	want := []string{
		"pod|IPv4|10.244.0.5 http://10.244.0.5:8890/echo",
		"pod|IPv6|fd00::5 http://[fd00::5]:8890/echo",
		"nodeport|IPv4|172.18.0.2 http://172.18.0.2:31082/echo",
		"nodeport|IPv6|fc00::2 http://[fc00::2]:31082/echo",
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
		{ID: "pod|IPv4|10.0.0.1", Requests: 3, Succeeded: 3, Latency: h(100)},
		{ID: "pod|IPv4|10.0.0.2", Requests: 3, Succeeded: 2, Errors: map[string]int64{"timeout": 1}, Latency: h(200)},
		{ID: "clusterip|IPv6|fd00::1", Requests: 2, Succeeded: 2, Latency: h(300)},
	})
	if len(paths) != 2 {
		t.Fatalf("paths %+v, want 2", paths)
	}
	c, p := paths[0], paths[1]
	if c.Kind != "clusterip" || c.Family != "IPv6" || c.Targets != 1 {
		t.Errorf("first path %+v", c)
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
