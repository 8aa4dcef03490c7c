package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	neturl "net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// FactsPath serves the node facts of the agent's network namespace: GET,
// header TokenHeader: <token>; response: NodeFacts (JSON). A host-network
// agent reports its node's routes, links, conntrack and neighbour tables.
const FactsPath = "/v1/facts"

// NodeFacts are what an engineer reads by hand on a node when the network
// misbehaves. Counters the kernel does not expose in this namespace are -1
// ("unknown"), never 0, so a rule can tell "empty" from "not known".
type NodeFacts struct {
	Node       string      `json:"node"`
	Interfaces []Interface `json:"interfaces"`
	Routes     []Route     `json:"routes"`
	// Rules are the policy routing rules of both families (nil from
	// older agents, which read only the main tables).
	Rules     []RoutingRule `json:"rules,omitempty"`
	Conntrack Usage         `json:"conntrack"`
	// Neighbours are the IPv4 neighbour (ARP) entries; NeighGC4/6 the
	// kernel's garbage-collection thresholds gc_thresh1..3 (-1 unknown).
	Neighbours []Neighbour `json:"neighbours"`
	NeighGC4   [3]int      `json:"neighGCThresh4"`
	NeighGC6   [3]int      `json:"neighGCThresh6"`
	// Sysctls are the forwarding, reverse-path and bridge-netfilter
	// settings pod traffic depends on; nil from agents before they were read.
	Sysctls *Sysctls `json:"sysctls,omitempty"`
	// NeighStates are the IPv4 and IPv6 neighbour entries with their NUD
	// state, from rtnetlink (as `ip neigh` and `ip -6 neigh`); nil when not read.
	NeighStates []NeighState `json:"neighbourStates,omitempty"`
	// ConntrackStats are the drop counters of /proc/net/stat/nf_conntrack
	// summed over CPUs (nil: not available).
	ConntrackStats *ConntrackStats `json:"conntrackStats,omitempty"`
	// ConntrackDst counts entries toward the IPs the request named
	// (GET /v1/facts?conntrackDst=IP, repeatable).
	ConntrackDst []ConntrackDst `json:"conntrackDst,omitempty"`
	// ServiceRules are the Service frontends kube-proxy programmed here
	// (nil from older agents).
	ServiceRules *ServiceRules `json:"serviceRules,omitempty"`
	// KubeProxy is what the node's kube-proxy health and metrics
	// endpoints said (nil from older agents).
	KubeProxy *KubeProxyHealth `json:"kubeProxy,omitempty"`
	// KernelLog are the network-trouble lines of the kernel log (nil from
	// older agents).
	KernelLog *KernelLog `json:"kernelLog,omitempty"`
	// Errors lists the sources that could not be read (facts stay partial).
	Errors []string `json:"errors,omitempty"`
}

// Interface is one network interface.
type Interface struct {
	Name  string   `json:"name"`
	MTU   int      `json:"mtu"`
	Up    bool     `json:"up"`
	Addrs []string `json:"addrs,omitempty"` // CIDR notation
	// From rtnetlink (absent from older agents): ifindex, link kind
	// ("veth", "bridge", "vxlan", "" for a physical link), Peer is
	// IFLA_LINK (a veth's peer ifindex, in the peer's namespace),
	// OperState as `ip link` prints it, error/drop counters.
	Index     int        `json:"index,omitempty"`
	Kind      string     `json:"kind,omitempty"`
	Peer      int        `json:"peer,omitempty"`
	OperState string     `json:"operState,omitempty"`
	Stats     *LinkStats `json:"stats,omitempty"`
	// RPFilter is net.ipv4.conf.<name>.rp_filter (nil: unknown).
	RPFilter *int `json:"rpFilter,omitempty"`
}

// Sysctls are node-wide settings that decide whether pod traffic is
// forwarded at all (-1: unknown or absent).
type Sysctls struct {
	IPForward      int `json:"ipForward"`      // net.ipv4.ip_forward
	IPv6Forwarding int `json:"ipv6Forwarding"` // net.ipv6.conf.all.forwarding
	RPFilterAll    int `json:"rpFilterAll"`    // net.ipv4.conf.all.rp_filter
	RPFilterDef    int `json:"rpFilterDefault"`
	// BridgeNFCallIPTables is net.bridge.bridge-nf-call-iptables (-1 when
	// br_netfilter is not loaded: the file does not exist).
	BridgeNFCallIPTables  int `json:"bridgeNfCallIptables"`
	BridgeNFCallIP6Tables int `json:"bridgeNfCallIp6tables"`
}

// Route is one routing table entry of any table, either family (as `ip
// route show table all`; local and broadcast routes left out).
type Route struct {
	Dst     string `json:"dst"` // prefix, e.g. 10.244.1.0/24
	Gateway string `json:"gateway,omitempty"`
	Iface   string `json:"iface,omitempty"`
	Metric  int    `json:"metric"`
	// Reject is an unreachable/prohibit/blackhole route: it matches
	// packets only to drop them.
	Reject bool `json:"reject,omitempty"`
	// Table is the routing table id (254 main); Type the route type when
	// not unicast (blackhole, unreachable, prohibit, throw).
	Table int    `json:"table,omitempty"`
	Type  string `json:"type,omitempty"`
}

// Usage is a counter and its limit (-1 when unknown).
type Usage struct {
	Count int `json:"count"`
	Max   int `json:"max"`
}

// Neighbour is one /proc/net/arp entry.
type Neighbour struct {
	IP    string `json:"ip"`
	MAC   string `json:"mac"`
	Iface string `json:"iface"`
	Flags string `json:"flags"`
}

// ReadFacts reads the facts of the current network namespace. procRoot is
// "/proc" on a node (tests pass a fixture tree). Interfaces come from the
// kernel through net.Interfaces (netlink), not /sys/class/net: /sys shows
// the namespace of whoever mounted it, which in a container need not be the
// agent's.
func ReadFacts(node, procRoot string) NodeFacts {
	return ReadFactsFor(node, procRoot, nil)
}

// ReadFactsFor is ReadFacts that also counts the conntrack entries toward
// each of conntrackDst.
func ReadFactsFor(node, procRoot string, conntrackDst []netip.Addr) NodeFacts {
	f := NodeFacts{Node: node, Conntrack: Usage{-1, -1}, NeighGC4: [3]int{-1, -1, -1}, NeighGC6: [3]int{-1, -1, -1}}
	var errs []error
	ifs, err := readInterfaces()
	errs = append(errs, err)
	li, err := readLinkInfo()
	errs = append(errs, err)
	for i := range ifs {
		if l, ok := li[ifs[i].Index]; ok {
			ifs[i].Kind, ifs[i].Peer, ifs[i].OperState, ifs[i].Stats = l.kind, l.peer, l.operstate, l.stats
		}
		if v := readInt(filepath.Join(procRoot, "sys/net/ipv4/conf", ifs[i].Name, "rp_filter")); v >= 0 {
			ifs[i].RPFilter = &v
		}
	}
	f.Interfaces = ifs
	names := map[int]string{}
	for _, it := range ifs {
		names[it.Index] = it.Name
	}
	f.NeighStates, err = readNeighbours(names)
	errs = append(errs, err)
	f.Sysctls = &Sysctls{
		IPForward:             readInt(filepath.Join(procRoot, "sys/net/ipv4/ip_forward")),
		IPv6Forwarding:        readInt(filepath.Join(procRoot, "sys/net/ipv6/conf/all/forwarding")),
		RPFilterAll:           readInt(filepath.Join(procRoot, "sys/net/ipv4/conf/all/rp_filter")),
		RPFilterDef:           readInt(filepath.Join(procRoot, "sys/net/ipv4/conf/default/rp_filter")),
		BridgeNFCallIPTables:  readInt(filepath.Join(procRoot, "sys/net/bridge/bridge-nf-call-iptables")),
		BridgeNFCallIP6Tables: readInt(filepath.Join(procRoot, "sys/net/bridge/bridge-nf-call-ip6tables")),
	}
	f.Routes, err = readRoutes(names)
	errs = append(errs, err)
	f.Rules, err = readRules()
	errs = append(errs, err)
	f.Neighbours, err = readARP(filepath.Join(procRoot, "net", "arp"))
	errs = append(errs, err)
	f.Conntrack.Count = readInt(filepath.Join(procRoot, "sys/net/netfilter/nf_conntrack_count"))
	f.Conntrack.Max = readInt(filepath.Join(procRoot, "sys/net/netfilter/nf_conntrack_max"))
	f.ConntrackStats, err = readConntrackStats(filepath.Join(procRoot, "net/stat/nf_conntrack"))
	errs = append(errs, err)
	for _, ip := range conntrackDst {
		f.ConntrackDst = append(f.ConntrackDst, countConntrackDst(filepath.Join(procRoot, "net/nf_conntrack"), ip))
	}
	f.ServiceRules = ReadServiceRules(procRoot)
	f.KernelLog = ReadKernelLog(procRoot)
	f.KubeProxy = readKubeProxy(context.Background(), KubeProxyHealthzURL, KubeProxyMetricsURL)
	for i := range 3 {
		name := fmt.Sprintf("gc_thresh%d", i+1)
		f.NeighGC4[i] = readInt(filepath.Join(procRoot, "sys/net/ipv4/neigh/default", name))
		f.NeighGC6[i] = readInt(filepath.Join(procRoot, "sys/net/ipv6/neigh/default", name))
	}
	for _, e := range errs {
		if e != nil {
			f.Errors = append(f.Errors, e.Error())
		}
	}
	return f
}

func readInterfaces() ([]Interface, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("listing interfaces: %w", err)
	}
	out := make([]Interface, 0, len(ifs))
	for _, i := range ifs {
		it := Interface{Name: i.Name, MTU: i.MTU, Up: i.Flags&net.FlagUp != 0, Index: i.Index}
		addrs, err := i.Addrs()
		if err != nil {
			return nil, fmt.Errorf("addresses of %s: %w", i.Name, err)
		}
		for _, a := range addrs {
			it.Addrs = append(it.Addrs, a.String())
		}
		out = append(out, it)
	}
	return out, nil
}

// readInt reads one integer sysctl; -1 when absent or unreadable.
func readInt(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return -1
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return -1
	}
	return n
}

// eachLine calls fn with the fields of every line of path after skip
// header lines. A missing file is no error (IPv6 or ARP may be absent).
func eachLine(path string, skip int, fn func([]string) error) error {
	fh, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for n := 1; sc.Scan(); n++ {
		if n <= skip || strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		if err := fn(strings.Fields(sc.Text())); err != nil {
			return fmt.Errorf("%s line %d: %w", path, n, err)
		}
	}
	return sc.Err()
}

// readARP parses /proc/net/arp (IP, HW type, flags, HW address, mask, device).
func readARP(path string) ([]Neighbour, error) {
	var out []Neighbour
	err := eachLine(path, 1, func(f []string) error {
		if len(f) < 6 {
			return fmt.Errorf("want 6 fields, got %d", len(f))
		}
		out = append(out, Neighbour{IP: f[0], Flags: f[2], MAC: f[3], Iface: f[5]})
		return nil
	})
	return out, err
}

// handleFacts answers GET /v1/facts with the namespace's facts.
func (s *Server) handleFacts(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	root := s.opts.ProcRoot
	if root == "" {
		root = "/proc"
	}
	var dst []netip.Addr
	for _, v := range r.URL.Query()["conntrackDst"] {
		a, err := netip.ParseAddr(v)
		if err != nil {
			http.Error(w, fmt.Sprintf("conntrackDst %q is not an IP address", v), http.StatusBadRequest)
			return
		}
		dst = append(dst, a.Unmap())
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(ReadFactsFor(s.opts.Identity.Node, root, dst))
}

// Facts fetches an agent's NodeFacts (baseURL as for StreamProbe).
func Facts(ctx context.Context, c Doer, baseURL, token string) (NodeFacts, error) {
	return FactsFor(ctx, c, baseURL, token, nil)
}

// FactsFor is Facts asking also for the conntrack entries toward each of
// conntrackDst.
func FactsFor(ctx context.Context, c Doer, baseURL, token string, conntrackDst []string) (NodeFacts, error) {
	url := strings.TrimSuffix(baseURL, "/") + FactsPath
	for i, ip := range conntrackDst {
		sep := "&"
		if i == 0 {
			sep = "?"
		}
		url += sep + "conntrackDst=" + neturl.QueryEscape(ip)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return NodeFacts{}, fmt.Errorf("building facts request for %s: %w", url, err)
	}
	req.Header.Set(TokenHeader, token)
	resp, err := c.Do(req)
	if err != nil {
		return NodeFacts{}, fmt.Errorf("getting facts from %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return NodeFacts{}, &HTTPError{StatusCode: resp.StatusCode, Body: strings.TrimSpace(string(snippet))}
	}
	var f NodeFacts
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&f); err != nil {
		return NodeFacts{}, fmt.Errorf("decoding facts from %s: %w", url, err)
	}
	return f, nil
}
