package agent

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"github.com/google/nftables/xt"
	"golang.org/x/sys/unix"
)

// ServiceRules are the Service frontends kube-proxy programmed in the
// node's network namespace, read from the kernel over nftables netlink
// (as `nft list ruleset`). Reading them needs CAP_NET_ADMIN in the node's
// network namespace.
type ServiceRules struct {
	// Mode is where the rules were found: "iptables-nft" (kube-proxy
	// iptables mode through iptables-nft: tables ip/ip6 nat and filter) or
	// "nftables" (kube-proxy nftables mode: table ip/ip6 kube-proxy); ""
	// when none could be read, with Skipped saying why.
	Mode    string `json:"mode,omitempty"`
	Skipped string `json:"skipped,omitempty"`
	// Frontends are the Service addresses with a DNAT (or no-endpoints
	// reject) rule, each with the endpoints its rules can DNAT to.
	Frontends []Frontend `json:"frontends"`
}

// Frontend is one programmed Service address: a cluster, external or
// load-balancer IP with its port, or a node port (IP empty).
type Frontend struct {
	// Service is kube-proxy's name for the Service port: NAMESPACE/NAME or
	// NAMESPACE/NAME:PORTNAME.
	Service  string `json:"service"`
	Family   string `json:"family"`       // IPv4 or IPv6 (the table's family)
	IP       string `json:"ip,omitempty"` // empty: a node port
	Port     int    `json:"port"`
	Protocol string `json:"protocol"` // TCP, UDP, SCTP
	// Endpoints are the ip:port DNAT destinations its chains reach.
	Endpoints []string `json:"endpoints,omitempty"`
	// NoEndpoints: kube-proxy rejects or drops it ("has no endpoints").
	NoEndpoints bool `json:"noEndpoints,omitempty"`
}

// nftRule is what the rule readers need of one rule: the match values it
// compares (destination address, destination port, protocol), its comment,
// where it jumps, and a DNAT destination or reject verdict.
type nftRule struct {
	daddr   netip.Addr
	dport   int
	proto   string
	comment string
	jump    string
	dnat    string // ip:port
	reject  bool
}

// protoNames are the IP protocol numbers kube-proxy matches.
var protoNames = map[byte]string{6: "TCP", 17: "UDP", 132: "SCTP"}

// decodeRule reads one rule's expressions. Loads are paired with the
// equality compare after them (iptables-nft and kube-proxy's nftables
// rules are all of this shape); masked or negated compares are not the
// Service's own address and are ignored.
func decodeRule(r *nftables.Rule, fam nftables.TableFamily) nftRule {
	var out nftRule
	if c, ok := userdata.GetString(r.UserData, userdata.TypeComment); ok {
		out.comment = c
	}
	var load string // what the last load put in the register
	var masked bool
	imm := map[uint32][]byte{}
	for _, e := range r.Exprs {
		switch e := e.(type) {
		case *expr.Payload:
			load, masked = "", false
			switch {
			case e.Base == expr.PayloadBaseNetworkHeader && fam == nftables.TableFamilyIPv4 && e.Offset == 16 && e.Len == 4,
				e.Base == expr.PayloadBaseNetworkHeader && fam == nftables.TableFamilyIPv6 && e.Offset == 24 && e.Len == 16:
				load = "daddr"
			case e.Base == expr.PayloadBaseTransportHeader && e.Offset == 2 && e.Len == 2:
				load = "dport"
			}
		case *expr.Meta:
			load, masked = "", false
			if e.Key == expr.MetaKeyL4PROTO {
				load = "proto"
			}
		case *expr.Bitwise:
			masked = true
		case *expr.Cmp:
			if e.Op != expr.CmpOpEq || masked {
				load = ""
				continue
			}
			switch load {
			case "daddr":
				if a, ok := netip.AddrFromSlice(e.Data); ok {
					out.daddr = a.Unmap()
				}
			case "dport":
				if len(e.Data) == 2 {
					out.dport = int(e.Data[0])<<8 | int(e.Data[1])
				}
			case "proto":
				if len(e.Data) == 1 {
					out.proto = protoNames[e.Data[0]]
				}
			}
			load = ""
		case *expr.Match:
			switch info := e.Info.(type) {
			case *xt.Comment:
				out.comment = string(*info)
			case *xt.Tcp:
				if info.DstPorts[0] == info.DstPorts[1] && info.InvFlags&xt.TcpInvDestPorts == 0 {
					out.dport, out.proto = int(info.DstPorts[0]), "TCP"
				}
			case *xt.Udp:
				if info.DstPorts[0] == info.DstPorts[1] && info.InvFlags&xt.UdpInvDestPorts == 0 {
					out.dport, out.proto = int(info.DstPorts[0]), "UDP"
				}
			}
		case *expr.Target:
			switch info := e.Info.(type) {
			case *xt.NatRange2:
				out.dnat = hostPort(info.MinIP, info.MinPort)
			case *xt.NatRange:
				out.dnat = hostPort(info.MinIP, info.MinPort)
			case *xt.NatIPv4MultiRangeCompat:
				if len(*info) > 0 {
					out.dnat = hostPort((*info)[0].MinIP, (*info)[0].MinPort)
				}
			}
			if e.Name == "REJECT" {
				out.reject = true
			}
		case *expr.Immediate:
			imm[e.Register] = e.Data
		case *expr.NAT:
			// Native nft dnat (kube-proxy nftables mode): address and
			// port come from immediates loaded into registers before it.
			if e.Type == expr.NATTypeDestNAT && e.RegAddrMin != 0 {
				port := uint16(0)
				if p := imm[e.RegProtoMin]; len(p) >= 2 {
					port = uint16(p[0])<<8 | uint16(p[1])
				}
				out.dnat = hostPort(imm[e.RegAddrMin], port)
			}
		case *expr.Reject:
			out.reject = true
		case *expr.Verdict:
			if e.Kind == expr.VerdictJump || e.Kind == expr.VerdictGoto {
				out.jump = e.Chain
			}
			if e.Kind == expr.VerdictDrop {
				out.reject = true
			}
		}
	}
	return out
}

func hostPort(ip []byte, port uint16) string {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return ""
	}
	return netip.AddrPortFrom(a.Unmap(), port).String()
}

// ruleSet is one table's rules by chain, in order, and the verdict maps
// each chain looks up (kube-proxy's nftables mode picks endpoints with
// numgen ... vmap).
type ruleSet struct {
	rules map[string][]nftRule
	vmaps map[string][]string
}

// reach returns the DNAT destinations reachable from chain through jumps,
// gotos and verdict-map gotos (kube-proxy: SVC -> SEP, EXT -> SVC/SVL ->
// SEP; nftables mode service -> endpoint), sorted. vmap returns a verdict
// map's target chains (nil in iptables mode, which has none).
func (rs ruleSet) reach(chain string, vmap func(name string) []string) []string {
	seen := map[string]bool{}
	var out []string
	var walk func(c string, depth int)
	walk = func(c string, depth int) {
		if seen[c] || depth > 8 {
			return
		}
		seen[c] = true
		for _, r := range rs.rules[c] {
			if r.dnat != "" && !slices.Contains(out, r.dnat) {
				out = append(out, r.dnat)
			}
			if r.jump != "" {
				walk(r.jump, depth+1)
			}
		}
		if vmap != nil {
			for _, m := range rs.vmaps[c] {
				for _, to := range vmap(m) {
					walk(to, depth+1)
				}
			}
		}
	}
	walk(chain, 0)
	slices.Sort(out)
	return out
}

// iptablesFrontends reads kube-proxy's iptables-mode chains of one family:
// nat KUBE-SERVICES (cluster, external and load-balancer IPs; the comment
// "NS/NAME:PORT cluster IP") and KUBE-NODEPORTS, each followed to its DNAT
// targets; filter KUBE-SERVICES / KUBE-EXTERNAL-SERVICES / KUBE-NODEPORTS
// reject rules for Services without endpoints ("... has no endpoints").
func iptablesFrontends(nat, filter ruleSet, family string) []Frontend {
	var out []Frontend
	add := func(r nftRule, svc string, noEP bool) {
		fe := Frontend{Service: svc, Family: family, Port: r.dport, Protocol: r.proto, NoEndpoints: noEP}
		if r.daddr.IsValid() {
			fe.IP = r.daddr.String()
		}
		if !noEP {
			fe.Endpoints = nat.reach(r.jump, nil)
		}
		out = append(out, fe)
	}
	for _, chain := range []string{"KUBE-SERVICES", "KUBE-NODEPORTS"} {
		for _, r := range nat.rules[chain] {
			if r.comment == "" || r.dport == 0 || r.jump == "" || (chain == "KUBE-SERVICES" && !r.daddr.IsValid()) {
				continue
			}
			svc := r.comment
			for _, suffix := range []string{" cluster IP", " external IP", " loadbalancer IP"} {
				svc = strings.TrimSuffix(svc, suffix)
			}
			add(r, svc, false)
		}
	}
	for _, chain := range []string{"KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES", "KUBE-NODEPORTS"} {
		for _, r := range filter.rules[chain] {
			if svc, ok := strings.CutSuffix(r.comment, " has no endpoints"); ok && r.reject && r.dport != 0 {
				add(r, svc, true)
			}
		}
	}
	return out
}

// nftablesFrontends reads kube-proxy's nftables-mode table of one family:
// the verdict maps service-ips and service-nodeports (elements ADDR .
// PROTO . PORT or PROTO . PORT : goto service-HASH-NS/NAME/PROTO/PORTNAME),
// each service chain followed to the dnat of its endpoint chains, and
// no-endpoint-services / no-endpoint-nodeports.
func nftablesFrontends(c *nftables.Conn, t *nftables.Table, rs ruleSet, family string) ([]Frontend, error) {
	alen := 4
	if family == "IPv6" {
		alen = 16
	}
	vmap := func(name string) []string {
		set, err := c.GetSetByName(t, name)
		if err != nil {
			return nil
		}
		elems, err := c.GetSetElements(set)
		if err != nil {
			return nil
		}
		var to []string
		for _, e := range elems {
			if c := verdictChain(e); c != "" {
				to = append(to, c)
			}
		}
		return to
	}
	var out []Frontend
	for _, m := range []struct {
		set   string
		addr  bool
		noEPs bool
	}{{"service-ips", true, false}, {"service-nodeports", false, false}, {"no-endpoint-services", true, true}, {"no-endpoint-nodeports", false, true}} {
		set, err := c.GetSetByName(t, m.set)
		if err != nil {
			continue // absent: nothing of this kind programmed
		}
		elems, err := c.GetSetElements(set)
		if err != nil {
			return nil, fmt.Errorf("elements of %s %s: %w", t.Name, m.set, err)
		}
		for _, e := range elems {
			k := e.Key
			fe := Frontend{Family: family, NoEndpoints: m.noEPs}
			if m.addr {
				if len(k) < alen {
					continue
				}
				a, _ := netip.AddrFromSlice(k[:alen])
				fe.IP = a.Unmap().String()
				k = k[alen:]
			}
			// Concatenated keys pad every field to 4 bytes.
			if len(k) < 8 {
				continue
			}
			fe.Protocol = protoNames[k[0]]
			fe.Port = int(k[4])<<8 | int(k[5])
			// The element's comment is the ServicePortName; a service chain's
			// name says it too (no-endpoint elements go to reject-chain).
			fe.Service = e.Comment
			if c := verdictChain(e); c != "" {
				if svc, ok := serviceOfChain(c); ok {
					fe.Service = svc
				}
				if !m.noEPs {
					fe.Endpoints = rs.reach(c, vmap)
				}
			}
			out = append(out, fe)
		}
	}
	return out, nil
}

// verdictChain is the chain a verdict-map element jumps or goes to. The
// library leaves a read element's verdict undecoded in Val: the nested
// attributes NFTA_VERDICT_CODE (1) and NFTA_VERDICT_CHAIN (2).
func verdictChain(e nftables.SetElement) string {
	if e.VerdictData != nil && e.VerdictData.Chain != "" {
		return e.VerdictData.Chain
	}
	return cString(attrs(e.Val)[2])
}

// serviceOfChain turns kube-proxy nftables chain names
// "service-HASH-NS/NAME/PROTO/PORTNAME" (and "external-HASH-...") into
// "NS/NAME:PORTNAME" (kube-proxy's ServicePortName form); false for other
// chains.
func serviceOfChain(chain string) (string, bool) {
	_, rest, ok := strings.Cut(chain, "-")
	if !ok {
		return "", false
	}
	_, rest, ok = strings.Cut(rest, "-")
	if !ok {
		return "", false
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 4 {
		return "", false
	}
	if parts[3] == "" {
		return parts[0] + "/" + parts[1], true
	}
	return parts[0] + "/" + parts[1] + ":" + parts[3], true
}

// readTable reads every rule of a table, by chain, and the verdict maps
// each chain looks up.
func readTable(c *nftables.Conn, t *nftables.Table) (ruleSet, error) {
	chains, err := c.ListChainsOfTableFamily(t.Family)
	if err != nil {
		return ruleSet{}, fmt.Errorf("listing chains of %s: %w", t.Name, err)
	}
	rs := ruleSet{rules: map[string][]nftRule{}, vmaps: map[string][]string{}}
	for _, ch := range chains {
		if ch.Table.Name != t.Name {
			continue
		}
		rules, err := c.GetRules(t, ch)
		if err != nil {
			return ruleSet{}, fmt.Errorf("rules of %s %s: %w", t.Name, ch.Name, err)
		}
		rs.rules[ch.Name] = []nftRule{} // an empty chain still exists
		for _, r := range rules {
			rs.rules[ch.Name] = append(rs.rules[ch.Name], decodeRule(r, t.Family))
			for _, e := range r.Exprs {
				if l, ok := e.(*expr.Lookup); ok && l.IsDestRegSet {
					rs.vmaps[ch.Name] = append(rs.vmaps[ch.Name], l.SetName)
				}
			}
		}
	}
	return rs, nil
}

// ReadServiceRules reads kube-proxy's rules of the current network
// namespace. procRoot tells iptables-legacy tables apart
// (/proc/net/ip_tables_names lists the legacy tables loaded here, which
// netlink cannot read).
func ReadServiceRules(procRoot string) *ServiceRules {
	out := &ServiceRules{Frontends: []Frontend{}}
	c, err := nftables.New()
	if err != nil {
		out.Skipped = fmt.Sprintf("opening nftables netlink: %v", err)
		return out
	}
	tables, err := c.ListTables()
	if err != nil {
		out.Skipped = fmt.Sprintf("listing nftables tables: %v", err)
		if errors.Is(err, unix.EPERM) || strings.Contains(err.Error(), "operation not permitted") {
			out.Skipped += " (reading the ruleset needs CAP_NET_ADMIN in the node's network namespace)"
		}
		return out
	}
	byName := map[string]*nftables.Table{}
	for _, t := range tables {
		byName[famName(t.Family)+" "+t.Name] = t
	}
	var errs []string
	for _, fam := range []string{"IPv4", "IPv6"} {
		if t := byName[fam+" kube-proxy"]; t != nil {
			rs, err := readTable(c, t)
			if err == nil {
				var fes []Frontend
				fes, err = nftablesFrontends(c, t, rs, fam)
				out.Frontends = append(out.Frontends, fes...)
			}
			if err != nil {
				errs = append(errs, err.Error())
			}
			out.Mode = "nftables"
			continue
		}
		nat := byName[fam+" nat"]
		if nat == nil {
			continue
		}
		natRules, err := readTable(c, nat)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		if _, ok := natRules.rules["KUBE-SERVICES"]; !ok {
			continue
		}
		var filterRules ruleSet
		if t := byName[fam+" filter"]; t != nil {
			if filterRules, err = readTable(c, t); err != nil {
				errs = append(errs, err.Error())
			}
		}
		out.Mode = "iptables-nft"
		out.Frontends = append(out.Frontends, iptablesFrontends(natRules, filterRules, fam)...)
	}
	switch {
	case len(errs) > 0:
		out.Skipped = strings.Join(errs, "; ")
	case out.Mode == "":
		out.Skipped = "no kube-proxy rules in nftables (no table kube-proxy, no KUBE-SERVICES chain in an iptables-nft nat table)"
		if legacyNat(procRoot) {
			out.Skipped = "the nat table is in iptables-legacy (" + filepath.Join(procRoot, "net/ip_tables_names") + " lists it), which is not readable over netlink; kube-proxy's rules there were not checked"
		} else {
			out.Skipped += "; kube-proxy may run in IPVS mode or be replaced by the CNI"
		}
	}
	return out
}

func famName(f nftables.TableFamily) string {
	switch f {
	case nftables.TableFamilyIPv4:
		return "IPv4"
	case nftables.TableFamilyIPv6:
		return "IPv6"
	}
	return strconv.Itoa(int(f))
}

// legacyNat says whether an iptables-legacy nat table is loaded in this
// namespace.
func legacyNat(procRoot string) bool {
	for _, f := range []string{"net/ip_tables_names", "net/ip6_tables_names"} {
		b, err := os.ReadFile(filepath.Join(procRoot, f))
		if err == nil && slices.Contains(strings.Fields(string(b)), "nat") {
			return true
		}
	}
	return false
}
