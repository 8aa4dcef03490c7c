package reach

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
)

// Agent is one node's agent as reach needs it.
type Agent struct {
	Node    string
	Pod     string
	IPs     []string
	Ready   bool
	Problem string // why it is not usable
	// Secondary are its Multus secondary-interface IPs (pod agents).
	Secondary []string
}

// Endpoint is one ready endpoint of a Service (from its EndpointSlices):
// a backend.
type Endpoint = BackendRef

// BackendsOf are the endpoints of family fam (on node, when not "").
func BackendsOf(eps []Endpoint, fam, node string) []BackendRef {
	var out []BackendRef
	for _, e := range eps {
		if FamilyOf(e.IP) == fam && (node == "" || e.Node == node) {
			out = append(out, e)
		}
	}
	return out
}

// ServiceView is what one created (or found) Service offers.
type ServiceView struct {
	ClusterIPs []string
	NodePort   int
	// Addresses are LoadBalancer / Ingress / Gateway addresses (IPs).
	Addresses []string
	Port      int // the port at Addresses (ingress, gateway); 0 = the Service port
	Endpoints []Endpoint
	// Missing says why the path has no address (LB not assigned in time, ...).
	Missing string
}

// View is the cluster as the plan sees it, after the Services exist.
type View struct {
	Port       int
	Nodes      []NodeView // sorted by name
	PodAgents  map[string]*Agent
	HostAgents map[string]*Agent
	Families   []string // IPv4/IPv6 present and asked
	Main       ServiceView
	Local      ServiceView
	Affinity   ServiceView
	LB         ServiceView
	Ingress    ServiceView
	Gateway    ServiceView
	Hairpin    map[string]ServiceView // by node
	DNS        ServiceView            // ClusterIPs = kube-dns, Endpoints = CoreDNS pods
	DNSName    string
	// HereIPs are netctl's own source addresses toward each family's
	// targets (--from-here), for the ETP=Local client-IP check.
	Here bool
}

// NodeView is a node with its InternalIPs.
type NodeView struct {
	Name string
	IPs  []string
}

// FamilyOf is "IPv4" or "IPv6".
func FamilyOf(ip string) string {
	if a, err := netip.ParseAddr(ip); err == nil && a.Is6() && !a.Is4In6() {
		return "IPv6"
	}
	return "IPv4"
}

func (v *View) allows(ip string) bool {
	f := FamilyOf(ip)
	for _, x := range v.Families {
		if x == f {
			return true
		}
	}
	return false
}

func hostPort(ip string, port int) string { return net.JoinHostPort(ip, strconv.Itoa(port)) }

// Plan lists every row of a round: per source agent, every target of the
// asked paths in every family. DNS rows are planned too (they run through
// the probe API, see dnsload.go).
func Plan(paths map[PathKind]bool, v *View) []Planned {
	var out []Planned
	add := func(src Source, a *Agent, p Planned) {
		p.Source = src
		if a != nil && !a.Ready {
			p.Skip = a.Problem
		}
		if p.Skip == "" && p.Address == "" {
			p.Skip = "no address"
		}
		p.ID = fmt.Sprintf("%s/%s/%s/%s/%s", src.Vantage, src.Node, p.Path, p.Family, p.Address)
		if p.Host != "" {
			p.ID += "/" + p.Host
		}
		out = append(out, p)
	}
	url := func(addr string) string { return "http://" + addr + EchoPath }
	for _, n := range v.Nodes {
		a := v.PodAgents[n.Name]
		if a == nil {
			continue
		}
		src := Source{Node: n.Name, Vantage: VantagePod, Pod: a.Pod}
		if paths[PathPod] {
			for _, tn := range v.Nodes {
				t := v.PodAgents[tn.Name]
				if t == nil {
					continue
				}
				for _, ip := range t.IPs {
					if !v.allows(ip) {
						continue
					}
					p := Planned{Path: PathPod, Family: FamilyOf(ip), Address: hostPort(ip, v.Port), URL: url(hostPort(ip, v.Port)),
						TargetNode: tn.Name, Judged: true, Expected: []BackendRef{{Node: tn.Name, Pod: t.Pod, IP: ip}}}
					if !t.Ready {
						p.Skip = "target " + t.Problem
					}
					add(src, a, p)
				}
			}
		}
		vip := func(kind PathKind, sv ServiceView, ips []string, port int, targetNode, host string, single bool) {
			for _, ip := range ips {
				if !v.allows(ip) {
					continue
				}
				fam := FamilyOf(ip)
				p := Planned{Path: kind, Family: fam, Address: hostPort(ip, port), URL: url(hostPort(ip, port)), Host: host,
					TargetNode: targetNode, Judged: true, Expected: BackendsOf(sv.Endpoints, fam, ""), Single: single}
				if len(p.Expected) == 0 {
					p.Skip = fmt.Sprintf("the Service has no ready %s endpoint", fam)
				}
				add(src, a, p)
			}
		}
		if paths[PathClusterIP] {
			vip(PathClusterIP, v.Main, v.Main.ClusterIPs, v.Port, "", "", false)
		}
		if paths[PathNodePort] {
			for _, tn := range v.Nodes {
				vip(PathNodePort, v.Main, tn.IPs, v.Main.NodePort, tn.Name, "", false)
			}
		}
		if paths[PathAffinity] {
			vip(PathAffinity, v.Affinity, v.Affinity.ClusterIPs, v.Port, "", "", true)
		}
		if paths[PathHairpin] {
			hp := v.Hairpin[n.Name]
			vip(PathHairpin, hp, hp.ClusterIPs, v.Port, n.Name, "", false)
		}
		if paths[PathLoadBalancer] {
			vip(PathLoadBalancer, v.LB, v.LB.Addresses, v.Port, "", "", false)
		}
		if paths[PathIngress] {
			vip(PathIngress, v.Main, v.Ingress.Addresses, v.Ingress.Port, "", VirtualHost, false)
		}
		if paths[PathGateway] {
			vip(PathGateway, v.Main, v.Gateway.Addresses, v.Gateway.Port, "", VirtualHost, false)
		}
		if paths[PathMultus] {
			for _, tn := range v.Nodes {
				t := v.PodAgents[tn.Name]
				if t == nil {
					continue
				}
				for _, ip := range t.Secondary {
					if v.allows(ip) {
						add(src, a, Planned{Path: PathMultus, Family: FamilyOf(ip), Address: hostPort(ip, v.Port), URL: url(hostPort(ip, v.Port)),
							TargetNode: tn.Name, Judged: true, Expected: []BackendRef{{Node: tn.Name, Pod: t.Pod, IP: ip}}})
					}
				}
			}
		}
		if paths[PathDNS] {
			for _, ip := range v.DNS.ClusterIPs {
				if v.allows(ip) {
					add(src, a, Planned{Path: PathDNS, Family: FamilyOf(ip), Address: ip})
				}
			}
			for _, e := range v.DNS.Endpoints {
				if v.allows(e.IP) {
					add(src, a, Planned{Path: PathDNS, Family: FamilyOf(e.IP), Address: e.IP, TargetNode: e.Node, Host: e.Pod})
				}
			}
		}
	}
	// ETP=Local from outside the pod network: each node's host-network
	// agent to every OTHER node's NodePort (to its own node the source is
	// local and kube-proxy masquerades on purpose). Only that node's
	// agent may answer, and it must see the client's node IP.
	if paths[PathLocal] {
		for _, n := range v.Nodes {
			a := v.HostAgents[n.Name]
			if a == nil {
				continue
			}
			src := Source{Node: n.Name, Vantage: VantageHost, Pod: a.Pod}
			for _, tn := range v.Nodes {
				if tn.Name == n.Name {
					continue
				}
				for _, ip := range tn.IPs {
					if !v.allows(ip) {
						continue
					}
					add(src, a, localRow(v, tn.Name, ip, ipOfFamily(n.IPs, FamilyOf(ip))))
				}
			}
		}
	}
	return out
}

// PlanHere lists the rows netctl itself runs (--from-here): every LB
// address, and every node's ETP=Local NodePort with the client IP netctl
// uses toward it (localIP).
func PlanHere(paths map[PathKind]bool, v *View, localIP func(dst string) string) []Planned {
	var out []Planned
	src := Source{Node: "netctl", Vantage: VantageHere}
	add := func(p Planned) {
		p.Source = src
		p.ID = fmt.Sprintf("%s/%s/%s/%s", src.Vantage, p.Path, p.Family, p.Address)
		out = append(out, p)
	}
	if paths[PathLoadBalancer] {
		for _, ip := range v.LB.Addresses {
			if v.allows(ip) {
				fam := FamilyOf(ip)
				add(Planned{Path: PathLoadBalancer, Family: fam, Address: hostPort(ip, v.Port), URL: "http://" + hostPort(ip, v.Port) + EchoPath,
					Judged: true, Expected: BackendsOf(v.LB.Endpoints, fam, "")})
			}
		}
	}
	if paths[PathLocal] {
		for _, tn := range v.Nodes {
			for _, ip := range tn.IPs {
				if !v.allows(ip) {
					continue
				}
				add(localRow(v, tn.Name, ip, localIP(ip)))
			}
		}
	}
	return out
}

// localRow is the ETP=Local row to node's address ip from a client at
// clientIP: only node's own endpoints may answer, and must see clientIP.
func localRow(v *View, node, ip, clientIP string) Planned {
	fam := FamilyOf(ip)
	addr := hostPort(ip, v.Local.NodePort)
	p := Planned{Path: PathLocal, Family: fam, Address: addr, URL: "http://" + addr + EchoPath, TargetNode: node, Judged: true,
		LocalNode: node, ClientIP: clientIP, Expected: BackendsOf(v.Local.Endpoints, fam, node)}
	if len(p.Expected) == 0 {
		p.Skip = fmt.Sprintf("node %s has no ready local %s endpoint", node, fam)
	}
	return p
}

func ipOfFamily(ips []string, fam string) string {
	for _, ip := range ips {
		if FamilyOf(ip) == fam {
			return ip
		}
	}
	return ""
}
