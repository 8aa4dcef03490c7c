package diagnose

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/netdoctor/netdoctor/internal/agent"
	"github.com/netdoctor/netdoctor/internal/kube"
)

var svcNodes = []kube.Node{{Name: "a"}, {Name: "b"}, {Name: "c"}}

// dnsPort is a dual-stack Service port with two ready endpoints, one per node a and b.
func dnsPort() kube.ServicePort {
	return kube.ServicePort{Name: "kube-system/kube-dns:dns", Protocol: "UDP", Port: 53, NodePort: 30053,
		ClusterIPs: []string{"10.96.0.10", "fd00::a"}, LoadBalancerIPs: []string{"192.0.2.1"},
		Endpoints: []kube.Endpoint{{Addr: "10.244.1.2:53", Node: "a"}, {Addr: "10.244.2.2:53", Node: "b"}, {Addr: "[fd01::2]:53", Node: "a"}}}
}

// programmed is what a synced kube-proxy holds for ports.
func programmed(ports ...kube.ServicePort) *agent.ServiceRules {
	r := &agent.ServiceRules{Mode: "iptables-nft"}
	for _, p := range ports {
		eps := map[string][]string{}
		for _, e := range p.Endpoints {
			fam := familyOf(netip.MustParseAddrPort(e.Addr).Addr().String())
			eps[fam] = append(eps[fam], e.Addr)
		}
		for _, ip := range append(append([]string{}, p.ClusterIPs...), p.LoadBalancerIPs...) {
			r.Frontends = append(r.Frontends, agent.Frontend{Service: p.Name, Family: familyOf(ip), IP: ip, Port: p.Port, Protocol: p.Protocol, Endpoints: eps[familyOf(ip)]})
		}
		for _, fam := range []string{"IPv4", "IPv6"} {
			if p.NodePort == 0 {
				break
			}
			r.Frontends = append(r.Frontends, agent.Frontend{Service: p.Name, Family: fam, Port: p.NodePort, Protocol: p.Protocol, Endpoints: eps[fam]})
		}
	}
	return r
}

func factsWith(rules map[string]*agent.ServiceRules) map[string]agent.NodeFacts {
	out := map[string]agent.NodeFacts{}
	for n, r := range rules {
		out[n] = agent.NodeFacts{Node: n, ServiceRules: r}
	}
	return out
}

func TestServicesHealthy(t *testing.T) {
	p := dnsPort()
	f, inc := AnalyzeServices(svcNodes, factsWith(map[string]*agent.ServiceRules{"a": programmed(p), "b": programmed(p), "c": programmed(p)}), []kube.ServicePort{p}, nil)
	if len(f) != 0 || len(inc) != 0 {
		t.Errorf("synced nodes: findings %+v, inconclusive %+v", f, inc)
	}
}

func TestServicesMissingOnOneNode(t *testing.T) {
	p, q := dnsPort(), kube.ServicePort{Name: "default/web", Protocol: "TCP", Port: 80, ClusterIPs: []string{"10.96.1.1"},
		Endpoints: []kube.Endpoint{{Addr: "10.244.1.9:8080", Node: "a"}}}
	f, _ := AnalyzeServices(svcNodes, factsWith(map[string]*agent.ServiceRules{"a": programmed(p, q), "b": programmed(p), "c": programmed(p, q)}), []kube.ServicePort{p, q}, nil)
	if len(f) != 1 || f[0].Kind != KindServiceRulesMissing || !reflect.DeepEqual(f[0].Nodes, []string{"b"}) || f[0].Target != "default/web" ||
		!strings.Contains(f[0].Evidence, "no rule for 10.96.1.1:80/TCP") {
		t.Errorf("findings %+v", f)
	}
}

func TestServicesEndpointMissingAndStale(t *testing.T) {
	p := dnsPort()
	old := p
	old.Endpoints = append([]kube.Endpoint{{Addr: "10.244.3.3:53", Node: "c"}}, p.Endpoints...)
	lagging := programmed(old) // still DNATs to the removed 10.244.3.3
	fresh := dnsPort()
	fresh.Endpoints = append(fresh.Endpoints, kube.Endpoint{Addr: "10.244.3.4:53", Node: "c"})
	f, _ := AnalyzeServices(svcNodes, factsWith(map[string]*agent.ServiceRules{"a": programmed(fresh), "b": programmed(fresh), "c": lagging}), []kube.ServicePort{fresh}, nil)
	if len(f) != 2 {
		t.Fatalf("findings %+v", f)
	}
	if f[0].Kind != KindServiceRulesMissing || !reflect.DeepEqual(f[0].Nodes, []string{"c"}) || !strings.Contains(f[0].Evidence, "ready endpoint 10.244.3.4:53 not programmed") {
		t.Errorf("missing: %+v", f[0])
	}
	if f[1].Kind != KindServiceRulesStale || !reflect.DeepEqual(f[1].Nodes, []string{"c"}) || f[1].Target != "kube-system/kube-dns:dns" ||
		!strings.Contains(f[1].Evidence, "still DNATs to 10.244.3.3:53") {
		t.Errorf("stale: %+v", f[1])
	}
}

func TestServicesDeletedStillProgrammed(t *testing.T) {
	p, gone := dnsPort(), kube.ServicePort{Name: "default/old", Protocol: "TCP", Port: 80, ClusterIPs: []string{"10.96.9.9"}}
	f, _ := AnalyzeServices(svcNodes, factsWith(map[string]*agent.ServiceRules{"a": programmed(p, gone), "b": programmed(p, gone), "c": programmed(p)}), []kube.ServicePort{p}, nil)
	if len(f) != 1 || f[0].Kind != KindServiceRulesStale || !reflect.DeepEqual(f[0].Nodes, []string{"a", "b"}) || f[0].Target != "default/old" {
		t.Errorf("findings %+v", f)
	}
	// Changed while the nodes were read: not judged.
	f, inc := AnalyzeServices(svcNodes, factsWith(map[string]*agent.ServiceRules{"a": programmed(p, gone), "b": programmed(p, gone), "c": programmed(p)}), []kube.ServicePort{p}, []string{"default/old/TCP"})
	if len(f) != 0 || len(inc) != 1 || !strings.Contains(inc[0].Reason, "default/old/TCP") {
		t.Errorf("changed: findings %+v, inconclusive %+v", f, inc)
	}
}

func TestServicesNoEndpointsAndTerminating(t *testing.T) {
	p := kube.ServicePort{Name: "default/empty", Protocol: "TCP", Port: 80, ClusterIPs: []string{"10.96.1.2"}}
	r := &agent.ServiceRules{Frontends: []agent.Frontend{{Service: p.Name, Family: "IPv4", IP: "10.96.1.2", Port: 80, Protocol: "TCP", NoEndpoints: true}}}
	if f, _ := AnalyzeServices(svcNodes[:1], factsWith(map[string]*agent.ServiceRules{"a": r}), []kube.ServicePort{p}, nil); len(f) != 0 {
		t.Errorf("reject rule for a Service without endpoints: %+v", f)
	}
	// Only terminating endpoints: kube-proxy may keep using them.
	p.Terminating = []kube.Endpoint{{Addr: "10.244.1.7:80"}}
	r.Frontends[0].NoEndpoints, r.Frontends[0].Endpoints = false, []string{"10.244.1.7:80"}
	if f, _ := AnalyzeServices(svcNodes[:1], factsWith(map[string]*agent.ServiceRules{"a": r}), []kube.ServicePort{p}, nil); len(f) != 0 {
		t.Errorf("terminating fallback: %+v", f)
	}
	// internalTrafficPolicy Local: a node holds only its own endpoints.
	l := dnsPort()
	l.InternalLocal, l.LoadBalancerIPs, l.NodePort = true, nil, 0
	local := &agent.ServiceRules{Frontends: []agent.Frontend{
		{Service: l.Name, Family: "IPv4", IP: "10.96.0.10", Port: 53, Protocol: "UDP", Endpoints: []string{"10.244.2.2:53"}},
		{Service: l.Name, Family: "IPv6", IP: "fd00::a", Port: 53, Protocol: "UDP"}}}
	if f, _ := AnalyzeServices(svcNodes, factsWith(map[string]*agent.ServiceRules{"b": local}), []kube.ServicePort{l}, nil); len(f) != 0 {
		t.Errorf("internalTrafficPolicy Local: %+v", f)
	}
}

func TestServicesInconclusive(t *testing.T) {
	p := dnsPort()
	f, inc := AnalyzeServices(svcNodes, factsWith(map[string]*agent.ServiceRules{
		"a": {Skipped: "the nat table is in iptables-legacy"}, "b": nil}), []kube.ServicePort{p}, nil)
	if len(f) != 0 || len(inc) != 2 || inc[0].Nodes[0] != "a" || !strings.Contains(inc[0].Reason, "iptables-legacy") || inc[1].Nodes[0] != "b" {
		t.Errorf("findings %+v, inconclusive %+v", f, inc)
	}
}

func TestKubeProxyNotSyncing(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	f, bad := true, false
	kp := map[string]*agent.KubeProxyHealth{
		"a": {StatusCode: 200, Healthy: &f, Now: now, Families: map[string]agent.SyncTimes{"IPv4": {LastSync: now.Add(-time.Second), LastQueued: now.Add(-2 * time.Second)}}},
		// A change queued 2 minutes ago, last sync 5 minutes ago.
		"b": {StatusCode: 200, Healthy: &f, Now: now, Families: map[string]agent.SyncTimes{"IPv6": {LastSync: now.Add(-5 * time.Minute), LastQueued: now.Add(-2 * time.Minute)}}},
		"c": {StatusCode: 503, Healthy: &bad, Now: now, MetricsError: "connection refused"},
	}
	facts := map[string]agent.NodeFacts{}
	for n, k := range kp {
		facts[n] = agent.NodeFacts{Node: n, KubeProxy: k}
	}
	facts["d"] = agent.NodeFacts{Node: "d", KubeProxy: &agent.KubeProxyHealth{HealthzError: "connection refused", MetricsError: "connection refused", Now: now}}
	out, inc := AnalyzeKubeProxy(append(svcNodes, kube.Node{Name: "d"}), facts)
	if len(out) != 2 || out[0].Nodes[0] != "b" || !strings.Contains(out[0].Evidence, "IPv6: a change queued 2m0s before") || out[1].Nodes[0] != "c" || !strings.Contains(out[1].Evidence, "healthz answers 503") {
		t.Errorf("findings %+v", out)
	}
	if len(inc) != 1 || inc[0].Nodes[0] != "d" || inc[0].Rule != KindKubeProxyNotSyncing {
		t.Errorf("inconclusive %+v", inc)
	}
	// Queued 30 s ago: within kube-proxy's own health timeout, no finding.
	facts["b"].KubeProxy.Families["IPv6"] = agent.SyncTimes{LastSync: now.Add(-5 * time.Minute), LastQueued: now.Add(-30 * time.Second)}
	if out, _ := AnalyzeKubeProxy(svcNodes[1:2], facts); len(out) != 0 {
		t.Errorf("below the threshold: %+v", out)
	}
}
