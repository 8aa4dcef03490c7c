// Package multus models Multus CNI for the sandbox (up --multus): the
// NetworkAttachmentDefinition CRD, the pod annotations Multus reads
// (k8s.v1.cni.cncf.io/networks) and writes (k8s.v1.cni.cncf.io/network-status),
// and the subset of CNI configurations the mini-kubelet can attach: macvlan
// and bridge with static or host-local IPAM. The kubelet does the attaching
// (package kubelet, secondary.go); this package holds what is pure data.
//
// The types are our own, shaped like the JSON of
// github.com/k8snetworkplumbingwg/network-attachment-definition-client:
// that module would pull a second copy of controller-runtime-era
// dependencies into the Kubernetes build for four small structs.
package multus

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"time"

	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiext "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"
)

// Annotations Multus reads and writes.
const (
	NetworksAnnotation = "k8s.v1.cni.cncf.io/networks"
	StatusAnnotation   = "k8s.v1.cni.cncf.io/network-status"
	// Group, version and resource of NetworkAttachmentDefinitions.
	Group    = "k8s.cni.cncf.io"
	Version  = "v1"
	Resource = "network-attachment-definitions"
	CRDName  = Resource + "." + Group
	// DefaultNetworkName is the name the primary (cluster) network carries in
	// network-status: Multus uses the name of the cluster's default CNI
	// network there (e.g. "kindnet", "cbr0"); the sandbox's is this.
	DefaultNetworkName = "netdoctor-sandbox"
)

//go:embed crd.yaml
var crdYAML []byte

// InstallCRD creates the NetworkAttachmentDefinition CRD and waits until the
// API server serves it (Established).
func InstallCRD(ctx context.Context, rc *rest.Config) error {
	c, err := apiext.NewForConfig(rc)
	if err != nil {
		return err
	}
	var crd apiextv1.CustomResourceDefinition
	if err := yaml.UnmarshalStrict(crdYAML, &crd); err != nil {
		return fmt.Errorf("decoding the NetworkAttachmentDefinition CRD: %w", err)
	}
	if _, err := c.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, &crd, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating CRD %s: %w", CRDName, err)
	}
	for {
		got, err := c.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, CRDName, metav1.GetOptions{})
		if err == nil {
			for _, cond := range got.Status.Conditions {
				if cond.Type == apiextv1.Established && cond.Status == apiextv1.ConditionTrue {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("CRD %s not established: %w", CRDName, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Selection is one entry of the networks annotation (Multus's
// NetworkSelectionElement, the fields the sandbox honours).
type Selection struct {
	Name      string   `json:"name"`
	Namespace string   `json:"namespace,omitempty"`
	Interface string   `json:"interface,omitempty"`
	IPs       []string `json:"ips,omitempty"` // static IPAM only ("capabilities": {"ips": true})
}

// Ref is "namespace/name" of the selected NetworkAttachmentDefinition.
func (s Selection) Ref() string { return s.Namespace + "/" + s.Name }

// Kubernetes object names (DNS-1123 subdomain) and interface names.
var (
	nameRE  = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`)
	ifaceRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,15}$`)
)

// ParseNetworks parses the networks annotation as Multus does: either a
// JSON list of selections or a comma list of [namespace/]name[@interface].
// Entries without a namespace take podNamespace. Interfaces not named get
// net<i>, i being the entry's 1-based position.
func ParseNetworks(value, podNamespace string) ([]Selection, error) {
	value = strings.TrimSpace(value)
	if value == "" {
		return nil, nil
	}
	var sel []Selection
	if strings.HasPrefix(value, "[") {
		if err := json.Unmarshal([]byte(value), &sel); err != nil {
			return nil, fmt.Errorf("parsePodNetworkAnnotation: failed to parse pod Network Attachment Selection Annotation JSON format: %v", err)
		}
	} else {
		for _, item := range strings.Split(value, ",") {
			item = strings.TrimSpace(item)
			var s Selection
			if i := strings.LastIndexByte(item, '@'); i >= 0 {
				s.Interface = item[i+1:]
				item = item[:i]
			}
			if i := strings.IndexByte(item, '/'); i >= 0 {
				s.Namespace, s.Name = item[:i], item[i+1:]
			} else {
				s.Name = item
			}
			sel = append(sel, s)
		}
	}
	seen := map[string]bool{}
	for i := range sel {
		s := &sel[i]
		if s.Namespace == "" {
			s.Namespace = podNamespace
		}
		if !nameRE.MatchString(s.Name) || !nameRE.MatchString(s.Namespace) {
			return nil, fmt.Errorf("parsePodNetworkAnnotation: invalid network %q in %s: namespace and name must be Kubernetes object names", s.Ref(), NetworksAnnotation)
		}
		if s.Interface == "" {
			s.Interface = fmt.Sprintf("net%d", i+1)
		}
		if !ifaceRE.MatchString(s.Interface) || s.Interface == "eth0" || s.Interface == "lo" {
			return nil, fmt.Errorf("parsePodNetworkAnnotation: invalid interface name %q for network %s (1-15 letters, digits, '.', '-', '_'; not eth0 or lo)", s.Interface, s.Ref())
		}
		if seen[s.Interface] {
			return nil, fmt.Errorf("parsePodNetworkAnnotation: interface %q requested twice", s.Interface)
		}
		seen[s.Interface] = true
	}
	return sel, nil
}

// Config is the part of a NAD's CNI configuration the sandbox acts on.
type Config struct {
	Name   string // the CNI network name (informational)
	Type   string // macvlan or bridge
	Master string // macvlan: parent interface in the node (default eth1)
	Mode   string // macvlan mode (default bridge)
	Bridge string // bridge: node-local bridge name (default cni0)
	MTU    int
	IPAM   IPAM
}

// IPAM is static (fixed addresses) or host-local (ranges).
type IPAM struct {
	Type      string         // static, host-local or "" (no addresses)
	Addresses []netip.Prefix // static
	Subnets   []netip.Prefix // host-local: one range set per family
	Routes    []Route
}

// Route is an IPAM route (dst, optional gw).
type Route struct {
	Dst netip.Prefix
	GW  netip.Addr
}

type rawConf struct {
	CNIVersion string          `json:"cniVersion"`
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Plugins    []rawConf       `json:"plugins"`
	Master     string          `json:"master"`
	Mode       string          `json:"mode"`
	Bridge     string          `json:"bridge"`
	MTU        int             `json:"mtu"`
	IsGateway  bool            `json:"isGateway"`
	IPMasq     bool            `json:"ipMasq"`
	IPAM       json.RawMessage `json:"ipam"`
}

type rawIPAM struct {
	Type      string `json:"type"`
	Addresses []struct {
		Address string `json:"address"`
	} `json:"addresses"`
	Subnet string `json:"subnet"`
	Ranges [][]struct {
		Subnet     string `json:"subnet"`
		RangeStart string `json:"rangeStart"`
		RangeEnd   string `json:"rangeEnd"`
	} `json:"ranges"`
	Routes []struct {
		Dst string `json:"dst"`
		GW  string `json:"gw"`
	} `json:"routes"`
}

// ParseConfig reads a NAD's spec.config (a CNI config or a conflist whose
// first plugin is used). allowed are the ranges addresses must lie in (the
// second segment). Errors say what is wrong and what is supported.
func ParseConfig(config string, allowed []netip.Prefix) (Config, error) {
	var r rawConf
	if err := json.Unmarshal([]byte(config), &r); err != nil {
		return Config{}, fmt.Errorf("invalid CNI config JSON: %v", err)
	}
	if len(r.Plugins) > 0 {
		name := r.Name
		r = r.Plugins[0]
		if r.Name == "" {
			r.Name = name
		}
	}
	c := Config{Name: r.Name, Type: r.Type, Master: r.Master, Mode: r.Mode, Bridge: r.Bridge, MTU: r.MTU}
	switch r.Type {
	case "macvlan":
		if c.Master == "" {
			c.Master = "eth1"
		}
		if c.Mode == "" {
			c.Mode = "bridge"
		}
		switch c.Mode {
		case "bridge", "private", "vepa", "passthru":
		default:
			return c, fmt.Errorf("macvlan mode %q: must be bridge, private, vepa or passthru", c.Mode)
		}
	case "bridge":
		if c.Bridge == "" {
			c.Bridge = "cni0"
		}
		if !ifaceRE.MatchString(c.Bridge) {
			return c, fmt.Errorf("bridge name %q is not a valid interface name", c.Bridge)
		}
		if r.IsGateway || r.IPMasq {
			return c, fmt.Errorf("bridge: isGateway and ipMasq are not supported in the sandbox (the segment has no gateway)")
		}
	case "":
		return c, fmt.Errorf("CNI config has no \"type\"")
	default:
		return c, fmt.Errorf("CNI plugin type %q is not available in the sandbox (supported: macvlan, bridge)", r.Type)
	}
	ipam, err := parseIPAM(r.IPAM, allowed)
	if err != nil {
		return c, err
	}
	c.IPAM = ipam
	return c, nil
}

func parseIPAM(raw json.RawMessage, allowed []netip.Prefix) (IPAM, error) {
	var out IPAM
	if len(raw) == 0 || string(raw) == "{}" || string(raw) == "null" {
		return out, nil
	}
	var r rawIPAM
	if err := json.Unmarshal(raw, &r); err != nil {
		return out, fmt.Errorf("invalid ipam: %v", err)
	}
	out.Type = r.Type
	inside := func(what string, p netip.Prefix) error { return Inside("ipam "+what, p, allowed) }
	switch r.Type {
	case "static":
		if len(r.Addresses) == 0 {
			return out, fmt.Errorf("ipam static: no addresses")
		}
		for _, a := range r.Addresses {
			p, err := netip.ParsePrefix(a.Address)
			if err != nil {
				return out, fmt.Errorf("ipam static address %q: want ADDRESS/PREFIXLEN", a.Address)
			}
			if err := inside("address", p); err != nil {
				return out, err
			}
			out.Addresses = append(out.Addresses, p)
		}
	case "host-local":
		subnets := []string{}
		if r.Subnet != "" {
			subnets = append(subnets, r.Subnet)
		}
		for _, set := range r.Ranges {
			if len(set) != 1 {
				return out, fmt.Errorf("ipam host-local: each range set must hold exactly one range in the sandbox")
			}
			if set[0].RangeStart != "" || set[0].RangeEnd != "" {
				return out, fmt.Errorf("ipam host-local: rangeStart/rangeEnd are not supported in the sandbox (addresses come from the whole subnet, from .2)")
			}
			subnets = append(subnets, set[0].Subnet)
		}
		if len(subnets) == 0 {
			return out, fmt.Errorf("ipam host-local: no subnet or ranges")
		}
		for _, s := range subnets {
			p, err := netip.ParsePrefix(s)
			if err != nil || p.Masked() != p {
				return out, fmt.Errorf("ipam host-local subnet %q: want a network prefix like 100.64.48.0/24", s)
			}
			if err := inside("subnet", p); err != nil {
				return out, err
			}
			out.Subnets = append(out.Subnets, p)
		}
	default:
		return out, fmt.Errorf("ipam type %q is not available in the sandbox (supported: static, host-local)", r.Type)
	}
	for _, rt := range r.Routes {
		d, err := netip.ParsePrefix(rt.Dst)
		if err != nil {
			return out, fmt.Errorf("ipam route dst %q: %v", rt.Dst, err)
		}
		if err := inside("route", d); err != nil {
			return out, err
		}
		route := Route{Dst: d}
		if rt.GW != "" {
			if route.GW, err = netip.ParseAddr(rt.GW); err != nil {
				return out, fmt.Errorf("ipam route gw %q: %v", rt.GW, err)
			}
		}
		out.Routes = append(out.Routes, route)
	}
	return out, nil
}

// Inside checks that p lies in one of the allowed ranges (the second
// segment's): nothing else is guarded in the host.
func Inside(what string, p netip.Prefix, allowed []netip.Prefix) error {
	for _, a := range allowed {
		if a.Bits() <= p.Bits() && a.Contains(p.Addr()) {
			return nil
		}
	}
	return fmt.Errorf("%s %s is outside the sandbox's secondary ranges %v", what, p, allowed)
}

// Status is one entry of the network-status annotation, field for field as
// Multus writes it (network-attachment-definition-client's NetworkStatus).
type Status struct {
	Name      string   `json:"name"`
	Interface string   `json:"interface,omitempty"`
	IPs       []string `json:"ips,omitempty"`
	Mac       string   `json:"mac,omitempty"`
	Mtu       int      `json:"mtu,omitempty"`
	Default   bool     `json:"default,omitempty"`
	DNS       DNS      `json:"dns"`
}

// DNS is the CNI result's DNS (always empty here; Multus writes "dns": {}).
type DNS struct {
	Nameservers []string `json:"nameservers,omitempty"`
	Domain      string   `json:"domain,omitempty"`
	Search      []string `json:"search,omitempty"`
	Options     []string `json:"options,omitempty"`
}

// StatusJSON renders network-status as Multus does (indented with four spaces).
func StatusJSON(st []Status) (string, error) {
	b, err := json.MarshalIndent(st, "", "    ")
	return string(b), err
}
