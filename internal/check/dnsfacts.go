package check

import (
	"context"
	"net/netip"
	"strings"
	"time"

	"github.com/netdoctor/netdoctor/internal/agent"
	"github.com/netdoctor/netdoctor/internal/config"
	"github.com/netdoctor/netdoctor/internal/kube"
	"github.com/netdoctor/netdoctor/internal/probe"
)

// DNSQuery is one query a node's host-network agent sent to the cluster
// DNS, from the node's own network namespace.
type DNSQuery struct {
	Node string `json:"node"` // the node asking
	// Server is the DNS Service IP or a CoreDNS endpoint IP; Pod and
	// PodNode name the replica behind an endpoint ("" for the Service).
	Server  string       `json:"server"`
	Pod     string       `json:"pod,omitempty"`
	PodNode string       `json:"podNode,omitempty"`
	Result  probe.Result `json:"result"`
}

// dnsTimeout bounds one query (the agent retries nothing: one UDP query,
// TCP only when truncated).
const dnsTimeout = 3 * time.Second

// DNSServers are the cluster DNS Service's IPs and each ready endpoint of
// its UDP port 53, from the Service ports read for the Service rules.
func DNSServers(ports []kube.ServicePort) (vips []string, eps []kube.Endpoint) {
	for _, sp := range ports {
		if sp.Protocol != "UDP" || sp.Port != 53 || !(strings.HasPrefix(sp.Name, "kube-system/kube-dns") || strings.HasPrefix(sp.Name, "kube-system/coredns")) {
			continue
		}
		return sp.ClusterIPs, sp.Endpoints
	}
	return nil, nil
}

// dnsTargets are the queries for kubernetes.default from a node: one per
// Service IP and one per endpoint, each in the server's family.
func dnsTargets(vips []string, eps []kube.Endpoint) ([]probe.Target, []DNSQuery) {
	var targets []probe.Target
	var queries []DNSQuery
	add := func(ip string, port int, ep kube.Endpoint) {
		fam := probe.IPv4
		if a, err := netip.ParseAddr(ip); err == nil && a.Is6() {
			fam = probe.IPv6
		}
		targets = append(targets, probe.Target{ID: ip, Kind: probe.KindDNS, Address: ip, Port: port, Name: config.DefaultTargetHostToLookup, Family: fam})
		queries = append(queries, DNSQuery{Server: ip, Pod: ep.Pod, PodNode: ep.Node})
	}
	for _, ip := range vips {
		add(ip, 53, kube.Endpoint{})
	}
	for _, e := range eps {
		if ap, err := netip.ParseAddrPort(e.Addr); err == nil {
			add(ap.Addr().String(), int(ap.Port()), e)
		}
	}
	return targets, queries
}

// queryDNS sends the queries through one node's agent (baseURL as for
// agent.StreamProbe); an agent error fills every result with it.
func queryDNS(ctx context.Context, c agent.Doer, baseURL, token, node string, vips []string, eps []kube.Endpoint) []DNSQuery {
	targets, queries := dnsTargets(vips, eps)
	if len(targets) == 0 {
		return nil
	}
	got := map[string]probe.Result{}
	err := agent.StreamProbe(ctx, c, baseURL, token, agent.ProbeRequest{Targets: targets, Concurrency: len(targets), TimeoutSeconds: dnsTimeout.Seconds()},
		func(r probe.Result) { got[r.ID] = r })
	for i := range queries {
		queries[i].Node = node
		r, ok := got[queries[i].Server]
		switch {
		case ok:
			queries[i].Result = r
		case err != nil:
			queries[i].Result = probe.Result{ID: queries[i].Server, Class: probe.ClassAgentError, Reason: "asking the agent: " + err.Error()}
		default:
			queries[i].Result = probe.Result{ID: queries[i].Server, Class: probe.ClassAgentError, Reason: "the agent returned no result"}
		}
	}
	return queries
}
