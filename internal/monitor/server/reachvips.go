package server

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/netdoctor/netdoctor/internal/monitor/api"
	"github.com/netdoctor/netdoctor/internal/reach"
)

// ReachVIPs reads the addresses of the reach paths only the server can
// discover (the agents have no API rights): the reach LoadBalancer
// Service's, the Ingress's and the HTTPRoute's Gateway's. KubeReachVIPs
// implements it.
type ReachVIPs interface {
	ReachVIPs(ctx context.Context) api.ReachTargets
}

// KubeReachVIPs reads the reach objects `monitor install` (or the chart)
// created in Namespace for the asked paths. It needs get on services and
// ingresses (namespace) and, for Gateway "namespace/name", get on gateways
// and list on services and endpointslices (cluster: the port clients use
// at a Gateway address can be a LoadBalancer Service's, reach.GatewayByName).
type KubeReachVIPs struct {
	Client       kubernetes.Interface
	Dynamic      dynamic.Interface
	Namespace    string
	LoadBalancer bool
	Ingress      bool
	Gateway      string // "namespace/name"; empty: no gateway path
}

// ReachVIPs implements ReachVIPs: every address of every asked path, or a
// note saying why the path has none this time.
func (k KubeReachVIPs) ReachVIPs(ctx context.Context) api.ReachTargets {
	out := api.ReachTargets{Targets: []api.ReachVIP{}}
	note := func(path, why string) { out.Notes = append(out.Notes, path+" path: "+why) }
	if k.LoadBalancer {
		svc, err := k.Client.CoreV1().Services(k.Namespace).Get(ctx, api.ReachLBServiceName, metav1.GetOptions{})
		switch {
		case err != nil:
			note(string(reach.PathLoadBalancer), fmt.Sprintf("reading Service %s/%s: %v", k.Namespace, api.ReachLBServiceName, err))
		case len(reach.LBAddresses(svc)) == 0:
			note(string(reach.PathLoadBalancer), fmt.Sprintf("Service %s/%s has no LoadBalancer IP (the cluster assigns none?)", k.Namespace, api.ReachLBServiceName))
		default:
			for _, ip := range reach.LBAddresses(svc) {
				out.Targets = append(out.Targets, api.ReachVIP{Kind: string(reach.PathLoadBalancer), IP: ip, Port: int(svc.Spec.Ports[0].Port)})
			}
		}
	}
	if k.Ingress {
		ing, err := k.Client.NetworkingV1().Ingresses(k.Namespace).Get(ctx, api.ReachIngressName, metav1.GetOptions{})
		if err != nil {
			note(string(reach.PathIngress), fmt.Sprintf("reading Ingress %s/%s: %v", k.Namespace, api.ReachIngressName, err))
		} else {
			ips, hostnames := reach.IngressAddresses(ing)
			for _, ip := range ips {
				// Ingress controllers serve plain HTTP on 80.
				out.Targets = append(out.Targets, api.ReachVIP{Kind: string(reach.PathIngress), IP: ip, Port: 80, Host: reach.VirtualHost})
			}
			switch {
			case len(ips) == 0 && hostnames > 0:
				note(string(reach.PathIngress), fmt.Sprintf("Ingress %s/%s has only host names as addresses; netctl resolves no names", k.Namespace, api.ReachIngressName))
			case len(ips) == 0:
				note(string(reach.PathIngress), fmt.Sprintf("Ingress %s/%s has no address yet (is its ingress controller running?)", k.Namespace, api.ReachIngressName))
			}
		}
	}
	if k.Gateway != "" {
		ns, name, _ := strings.Cut(k.Gateway, "/")
		if k.Dynamic == nil {
			note(string(reach.PathGateway), "no Gateway API client")
		} else if g, missing := reach.GatewayByName(ctx, k.Client, k.Dynamic, ns, name); g == nil {
			note(string(reach.PathGateway), missing)
		} else {
			for _, ip := range g.Addresses {
				out.Targets = append(out.Targets, api.ReachVIP{Kind: string(reach.PathGateway), IP: ip, Port: g.Port, Host: reach.VirtualHost})
			}
		}
	}
	return out
}

// vipCacheFor is how long the server reuses what ReachVIPs read: every
// pod-network agent asks at the start of each round, nearly at once.
const vipCacheFor = 10 * time.Second

// vipCache holds the latest ReachVIPs answer.
type vipCache struct {
	mu   sync.Mutex
	at   time.Time
	last api.ReachTargets
}

// ReachTargets are the loadbalancer, ingress and gateway addresses the
// pod-network agents put under load (none without Config.ReachVIPs).
func (s *Server) ReachTargets(ctx context.Context) api.ReachTargets {
	if s.cfg.ReachVIPs == nil {
		return api.ReachTargets{Targets: []api.ReachVIP{}}
	}
	c := &s.vips
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := s.now(); c.at.IsZero() || now.Sub(c.at) >= vipCacheFor {
		c.last, c.at = s.cfg.ReachVIPs.ReachVIPs(ctx), now
	}
	return c.last
}

// reachNotes are the latest notes of ReachTargets (no API read).
func (s *Server) reachNotes() []string {
	s.vips.mu.Lock()
	defer s.vips.mu.Unlock()
	return s.vips.last.Notes
}
