package kube

import (
	"context"
	"fmt"
	"net/netip"
	"reflect"
	"slices"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ServicePort is one port of a Service as the API says kube-proxy must
// program it on every node.
type ServicePort struct {
	// Name is kube-proxy's ServicePortName: NAMESPACE/NAME or
	// NAMESPACE/NAME:PORTNAME.
	Name     string
	Protocol string // TCP, UDP, SCTP
	Port     int
	// ClusterIPs (both families), ExternalIPs, LoadBalancerIPs (status
	// ingress IPs whose ipMode is not Proxy) and the NodePort (0: none).
	ClusterIPs      []string
	ExternalIPs     []string
	LoadBalancerIPs []string
	NodePort        int
	// Endpoints are the ready endpoints of the Service's EndpointSlices
	// for this port; Terminating are those serving but terminating (which
	// kube-proxy may still use while nothing else is ready).
	Endpoints   []Endpoint
	Terminating []Endpoint
	// InternalLocal: internalTrafficPolicy Local (a node's cluster IP rules
	// hold only its own endpoints). Hinted: some endpoint carries
	// topology hints (a node's rules may hold a subset).
	InternalLocal bool
	Hinted        bool
}

// Endpoint is one backend address of a Service port.
type Endpoint struct {
	Addr string // ip:port ([ip6]:port)
	Node string // spec.nodeName of the endpoint ("" unknown)
	Pod  string // NAMESPACE/NAME of its targetRef pod ("" none)
}

// ServicePorts lists every Service port kube-proxy programs (headless and
// ExternalName Services have none; a Service with the label
// service.kubernetes.io/service-proxy-name belongs to another proxy) with
// the ready endpoints of its EndpointSlices.
func (c *Client) ServicePorts(ctx context.Context) ([]ServicePort, error) {
	svcs, err := c.Clientset.CoreV1().Services("").List(ctx, metav1.ListOptions{LabelSelector: "!service.kubernetes.io/service-proxy-name"})
	if err != nil {
		return nil, fmt.Errorf("listing Services of cluster %s: %w", c.Name, err)
	}
	slices, err := c.Clientset.DiscoveryV1().EndpointSlices("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing EndpointSlices of cluster %s: %w", c.Name, err)
	}
	return ServicePortsOf(svcs.Items, slices.Items), nil
}

// ServicePortsOf joins Services with their EndpointSlices (label
// kubernetes.io/service-name), sorted by name and protocol.
func ServicePortsOf(svcs []corev1.Service, eps []discoveryv1.EndpointSlice) []ServicePort {
	bySvc := map[string][]*discoveryv1.EndpointSlice{}
	for i := range eps {
		s := &eps[i]
		if name := s.Labels[discoveryv1.LabelServiceName]; name != "" {
			bySvc[s.Namespace+"/"+name] = append(bySvc[s.Namespace+"/"+name], s)
		}
	}
	var out []ServicePort
	for i := range svcs {
		s := &svcs[i]
		if s.Spec.Type == corev1.ServiceTypeExternalName || s.Spec.ClusterIP == corev1.ClusterIPNone || s.Spec.ClusterIP == "" {
			continue
		}
		for _, p := range s.Spec.Ports {
			sp := ServicePort{Name: s.Namespace + "/" + s.Name, Protocol: string(p.Protocol), Port: int(p.Port),
				ClusterIPs: s.Spec.ClusterIPs, ExternalIPs: s.Spec.ExternalIPs, NodePort: int(p.NodePort),
				InternalLocal: s.Spec.InternalTrafficPolicy != nil && *s.Spec.InternalTrafficPolicy == corev1.ServiceInternalTrafficPolicyLocal}
			if p.Name != "" {
				sp.Name += ":" + p.Name
			}
			if sp.Protocol == "" {
				sp.Protocol = "TCP"
			}
			if len(sp.ClusterIPs) == 0 {
				sp.ClusterIPs = []string{s.Spec.ClusterIP}
			}
			if s.Spec.Type == corev1.ServiceTypeLoadBalancer {
				for _, in := range s.Status.LoadBalancer.Ingress {
					if in.IP != "" && (in.IPMode == nil || *in.IPMode != corev1.LoadBalancerIPModeProxy) {
						sp.LoadBalancerIPs = append(sp.LoadBalancerIPs, in.IP)
					}
				}
			}
			for _, sl := range bySvc[s.Namespace+"/"+s.Name] {
				addSliceEndpoints(&sp, p.Name, sl)
			}
			out = append(out, sp)
		}
	}
	slices.SortFunc(out, func(a, b ServicePort) int {
		if a.Name != b.Name {
			if a.Name < b.Name {
				return -1
			}
			return 1
		}
		if a.Protocol < b.Protocol {
			return -1
		}
		if a.Protocol > b.Protocol {
			return 1
		}
		return 0
	})
	return out
}

// addSliceEndpoints adds the endpoints of slice sl for the port named
// portName: ready ones (ready unset counts as ready, as kube-proxy reads
// it) and serving-but-terminating ones apart.
func addSliceEndpoints(sp *ServicePort, portName string, sl *discoveryv1.EndpointSlice) {
	port := -1
	for _, p := range sl.Ports {
		if p.Name != nil && *p.Name == portName && p.Port != nil {
			port = int(*p.Port)
		}
	}
	if port < 0 {
		return
	}
	for _, e := range sl.Endpoints {
		if e.Hints != nil && len(e.Hints.ForZones)+len(e.Hints.ForNodes) > 0 {
			sp.Hinted = true
		}
		node, pod := "", ""
		if e.NodeName != nil {
			node = *e.NodeName
		}
		if r := e.TargetRef; r != nil && r.Kind == "Pod" {
			pod = r.Namespace + "/" + r.Name
		}
		c := e.Conditions
		ready := c.Ready == nil || *c.Ready
		serving := c.Serving == nil || *c.Serving
		terminating := c.Terminating != nil && *c.Terminating
		for _, a := range e.Addresses {
			ip, err := netip.ParseAddr(a)
			if err != nil {
				continue
			}
			ep := Endpoint{Addr: netip.AddrPortFrom(ip, uint16(port)).String(), Node: node, Pod: pod}
			switch {
			case ready && !terminating:
				sp.Endpoints = append(sp.Endpoints, ep)
			case serving:
				sp.Terminating = append(sp.Terminating, ep)
			}
		}
	}
}

// StablePorts keeps the ports equal in both reads (same name, protocol,
// addresses and endpoints) and names those that changed, appeared or went
// between them.
func StablePorts(before, after []ServicePort) (stable []ServicePort, changed []string) {
	key := func(p ServicePort) string { return p.Name + "/" + p.Protocol }
	prev := map[string]ServicePort{}
	for _, p := range before {
		prev[key(p)] = p
	}
	for _, p := range after {
		if b, ok := prev[key(p)]; ok && reflect.DeepEqual(b, p) {
			stable = append(stable, p)
		} else {
			changed = append(changed, key(p))
		}
		delete(prev, key(p))
	}
	for k := range prev {
		changed = append(changed, k)
	}
	slices.Sort(changed)
	return stable, changed
}
