package reach

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/netdoctor/netdoctor/internal/kube"
)

// Capabilities say which optional paths the cluster can serve, and why
// not when it cannot. Read before anything is created.
type Capabilities struct {
	LB           string // "" = the cluster assigns LB addresses; else why not
	IngressClass string // the class to use ("" = none, see NoIngress)
	NoIngress    string
	Gateway      *GatewayRef
	NoGateway    string
	NoMultus     string // "" = Multus is installed
}

// GatewayRef is the Gateway an HTTPRoute attaches to.
type GatewayRef struct {
	Namespace, Name string
	Port            int
	Addresses       []string
}

var (
	gatewayGVR   = schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "gateways"}
	httpRouteGVR = schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "httproutes"}
	metallbGVR   = schema.GroupVersionResource{Group: "metallb.io", Version: "v1beta1", Resource: "ipaddresspools"}
)

// Annotations of Multus: the networks a pod asks for, and what it got
// (network-status; networks-status is the older key).
const (
	MultusNetworksAnnotation   = "k8s.v1.cni.cncf.io/networks"
	NetworkStatusAnnotation    = "k8s.v1.cni.cncf.io/network-status"
	OldNetworkStatusAnnotation = "k8s.v1.cni.cncf.io/networks-status"
)

// discoverCaps reads what the cluster offers. dyn may be nil (no
// Gateway/MetalLB look-ups).
func discoverCaps(ctx context.Context, cs kubernetes.Interface, dyn dynamic.Interface) Capabilities {
	var c Capabilities
	c.LB = lbCapability(ctx, cs, dyn)
	c.IngressClass, c.NoIngress = IngressClassOf(ctx, cs)
	c.Gateway, c.NoGateway = FindGateway(ctx, dyn)
	if c.Gateway != nil {
		c.Gateway.Port = gatewayPort(ctx, cs, c.Gateway)
	}
	if _, err := cs.Discovery().ServerResourcesForGroupVersion("k8s.cni.cncf.io/v1"); err != nil {
		c.NoMultus = "Multus is not installed (no API group k8s.cni.cncf.io/v1)"
	}
	return c
}

// lbCapability: an LB implementation shows as a Service of type
// LoadBalancer that already has an address, or as MetalLB address pools.
// A cluster with neither would leave reach's LB Service pending forever.
func lbCapability(ctx context.Context, cs kubernetes.Interface, dyn dynamic.Interface) string {
	svcs, err := cs.CoreV1().Services(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err == nil {
		for _, s := range svcs.Items {
			if s.Spec.Type == corev1.ServiceTypeLoadBalancer && len(s.Status.LoadBalancer.Ingress) > 0 {
				return ""
			}
		}
	}
	if dyn != nil {
		if l, err := dyn.Resource(metallbGVR).Namespace(metav1.NamespaceAll).List(ctx, metav1.ListOptions{}); err == nil && len(l.Items) > 0 {
			return ""
		}
	}
	return "the cluster assigns no LoadBalancer addresses (no LoadBalancer Service has one, no MetalLB IPAddressPool exists)"
}

// IngressClassOf picks the default IngressClass, else the only/first one.
func IngressClassOf(ctx context.Context, cs kubernetes.Interface) (string, string) {
	l, err := cs.NetworkingV1().IngressClasses().List(ctx, metav1.ListOptions{})
	if apierrors.IsForbidden(err) {
		return "", "the user may not list IngressClasses (grant list on ingressclasses.networking.k8s.io cluster-wide, a ClusterRole)"
	}
	if err != nil {
		return "", fmt.Sprintf("cannot list IngressClasses: %v", err)
	}
	if len(l.Items) == 0 {
		return "", "the cluster has no IngressClass (no ingress controller)"
	}
	names := []string{}
	for _, ic := range l.Items {
		if ic.Annotations["ingressclass.kubernetes.io/is-default-class"] == "true" {
			return ic.Name, ""
		}
		names = append(names, ic.Name)
	}
	sort.Strings(names)
	return names[0], ""
}

// FindGateway picks the first Gateway (by namespace/name) with an HTTP
// listener and an IP address in its status.
func FindGateway(ctx context.Context, dyn dynamic.Interface) (*GatewayRef, string) {
	if dyn == nil {
		return nil, "no Gateway API client"
	}
	l, err := dyn.Resource(gatewayGVR).Namespace(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil, "the Gateway API (gateway.networking.k8s.io/v1) is not installed"
		}
		if apierrors.IsForbidden(err) {
			return nil, "the user may not list Gateways (grant list on gateways.gateway.networking.k8s.io cluster-wide, a ClusterRole)"
		}
		return nil, fmt.Sprintf("cannot list Gateways: %v", err)
	}
	var refs []GatewayRef
	for _, it := range l.Items {
		if ref, ok := gatewayRefOf(it); ok {
			refs = append(refs, ref)
		}
	}
	if len(refs) == 0 {
		return nil, fmt.Sprintf("no Gateway with an HTTP listener and an IP address (%d Gateways)", len(l.Items))
	}
	sort.Slice(refs, func(i, j int) bool { return refs[i].Namespace+"/"+refs[i].Name < refs[j].Namespace+"/"+refs[j].Name })
	return &refs[0], ""
}

// gatewayRefOf reads a Gateway's first HTTP listener port and its IP
// addresses; ok only when it has both.
func gatewayRefOf(it unstructured.Unstructured) (GatewayRef, bool) {
	var gw struct {
		Spec struct {
			Listeners []struct {
				Protocol string `json:"protocol"`
				Port     int    `json:"port"`
			} `json:"listeners"`
		} `json:"spec"`
		Status struct {
			Addresses []struct {
				Type  string `json:"type"`
				Value string `json:"value"`
			} `json:"addresses"`
		} `json:"status"`
	}
	ref := GatewayRef{Namespace: it.GetNamespace(), Name: it.GetName()}
	b, _ := json.Marshal(it.Object)
	if json.Unmarshal(b, &gw) != nil {
		return ref, false
	}
	for _, li := range gw.Spec.Listeners {
		if li.Protocol == "HTTP" {
			ref.Port = li.Port
			break
		}
	}
	for _, a := range gw.Status.Addresses {
		if a.Type == "" || a.Type == "IPAddress" {
			ref.Addresses = append(ref.Addresses, a.Value)
		}
	}
	return ref, ref.Port > 0 && len(ref.Addresses) > 0
}

// GatewayByName reads Gateway ns/name as clients reach it: its IP
// addresses and the port at them (gatewayPort). missing says why there
// is none (not installed, not found, no HTTP listener or address).
func GatewayByName(ctx context.Context, cs kubernetes.Interface, dyn dynamic.Interface, ns, name string) (ref *GatewayRef, missing string) {
	it, err := dyn.Resource(gatewayGVR).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Sprintf("reading Gateway %s/%s: %v", ns, name, err)
	}
	r, ok := gatewayRefOf(*it)
	if !ok {
		return nil, fmt.Sprintf("Gateway %s/%s has no HTTP listener with an IP address in its status", ns, name)
	}
	r.Port = gatewayPort(ctx, cs, &r)
	return &r, ""
}

// LBAddresses are a Service's LoadBalancer IPs, sorted (host names left
// out: netctl resolves nothing).
func LBAddresses(s *corev1.Service) []string {
	var out []string
	for _, in := range s.Status.LoadBalancer.Ingress {
		if in.IP != "" {
			out = append(out, in.IP)
		}
	}
	return kube.SortIPs(out)
}

// IngressAddresses are an Ingress's IPs, sorted, and how many host names
// it has instead (never resolved).
func IngressAddresses(ing *networkingv1.Ingress) (ips []string, hostnames int) {
	for _, in := range ing.Status.LoadBalancer.Ingress {
		if in.IP != "" {
			ips = append(ips, in.IP)
		} else if in.Hostname != "" {
			hostnames++
		}
	}
	return kube.SortIPs(ips), hostnames
}

// gatewayPort is the port clients use at the Gateway's addresses. It is
// the listener's port, except when a LoadBalancer Service carries those
// addresses and maps another port onto it (Traefik's Gateway listens on its
// entry point, 8000, behind Service port 80): then the Service's port.
func gatewayPort(ctx context.Context, cs kubernetes.Interface, g *GatewayRef) int {
	svcs, err := cs.CoreV1().Services(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return g.Port
	}
	addr := map[string]bool{}
	for _, a := range g.Addresses {
		addr[a] = true
	}
	for _, s := range svcs.Items {
		carries := false
		for _, in := range s.Status.LoadBalancer.Ingress {
			carries = carries || addr[in.IP]
		}
		if !carries {
			continue
		}
		// A named target port is resolved by the EndpointSlices' ports.
		resolved := map[string]int{}
		if sl, err := cs.DiscoveryV1().EndpointSlices(s.Namespace).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + s.Name}); err == nil {
			for _, e := range sl.Items {
				for _, ep := range e.Ports {
					if ep.Name != nil && ep.Port != nil {
						resolved[*ep.Name] = int(*ep.Port)
					}
				}
			}
		}
		for _, p := range s.Spec.Ports {
			target := p.TargetPort.IntValue()
			if n, ok := resolved[p.Name]; ok {
				target = n
			}
			if target == g.Port && int(p.Port) != g.Port {
				return int(p.Port)
			}
		}
	}
	return g.Port
}

// ReadyEndpoints reads the ready endpoints of Service ns/name from its
// EndpointSlices (every family).
func ReadyEndpoints(ctx context.Context, cs kubernetes.Interface, ns, name string) ([]Endpoint, error) {
	l, err := cs.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + name})
	if err != nil {
		return nil, fmt.Errorf("reading the EndpointSlices of Service %s/%s: %w", ns, name, err)
	}
	var out []Endpoint
	for _, s := range l.Items {
		for _, e := range s.Endpoints {
			if e.Conditions.Ready != nil && !*e.Conditions.Ready {
				continue
			}
			ep := Endpoint{}
			if e.NodeName != nil {
				ep.Node = *e.NodeName
			}
			if e.TargetRef != nil {
				ep.Pod = e.TargetRef.Name
			}
			for _, a := range e.Addresses {
				ep.IP = a
				out = append(out, ep)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Pod+out[i].IP < out[j].Pod+out[j].IP })
	return out, nil
}

// multusIPs reads a pod's secondary-interface IPs from Multus's
// network-status annotation (the older networks-status key as fallback);
// the entry marked default (or, without marks, the first) is the
// primary network and left out.
func multusIPs(p *corev1.Pod) ([]string, error) {
	raw := p.Annotations[NetworkStatusAnnotation]
	if raw == "" {
		raw = p.Annotations[OldNetworkStatusAnnotation]
	}
	if raw == "" {
		return nil, nil
	}
	var st []struct {
		Name    string   `json:"name"`
		IPs     []string `json:"ips"`
		Default bool     `json:"default"`
	}
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		return nil, fmt.Errorf("pod %s: network-status annotation: %w", p.Name, err)
	}
	anyDefault := false
	for _, s := range st {
		anyDefault = anyDefault || s.Default
	}
	var out []string
	for i, s := range st {
		if s.Default || (!anyDefault && i == 0) {
			continue
		}
		out = append(out, s.IPs...)
	}
	return out, nil
}
