package deploy

import (
	"context"
	"fmt"
	"net/netip"
	"sort"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/netdoctor/netdoctor/internal/agent"
	"github.com/netdoctor/netdoctor/internal/kube"
)

// NetworkPolicyName is the NetworkPolicy netctl creates (networkPolicy: auto).
const NetworkPolicyName = "netdoctor-agent"

// PolicySpec is what the agents' NetworkPolicy admits.
type PolicySpec struct {
	Namespace string
	Port      int // probe port; the api port is agent.APIPortFor(Port)
	// NodeIPs are the nodes' InternalIPs (each becomes a /32 or /128) and
	// PodCIDRs the nodes' pod CIDRs: probes from host-network agents and
	// from nodes (tunnel addresses on overlays) come from there.
	NodeIPs, PodCIDRs []string
	// AgentIPs are the pod-network agents' IPs once they run: admitted as
	// ipBlocks too, so an engine that puts new pods into a pod selector's
	// set late still admits them once it has programmed this update.
	AgentIPs []string
	// Custom are customized targets (ip, port) agents probe: egress to them.
	CustomIPs   []string
	CustomPorts []int
	// ICMP: the check probes icmp. A NetworkPolicy cannot name ICMP, so the
	// rules among agents and nodes then carry no ports, which admits every
	// protocol between those peers (ICMP included, on the engines that apply
	// port-less rules to all protocols: kube-router, Calico, Cilium).
	ICMP bool
}

// AgentNetworkPolicy admits exactly the agents' traffic: ingress on the
// probe port (tcp and udp) from agents, nodes and pod CIDRs; ingress on the
// api port from anywhere (the API server's pod proxy and port-forwards come
// from addresses that cannot be known; the api port is token-protected);
// egress to the probe port of agents and nodes, to customized targets, and
// to DNS (port 53). ICMP cannot be expressed in a NetworkPolicy: with
// s.ICMP the rules among agents and nodes admit every protocol instead.
func AgentNetworkPolicy(s PolicySpec) *networkingv1.NetworkPolicy {
	tcp, udp := corev1.ProtocolTCP, corev1.ProtocolUDP
	port := intstr.FromInt32(int32(s.Port))
	api := intstr.FromInt32(int32(agent.APIPortFor(s.Port)))
	dns := intstr.FromInt32(53)
	probePorts := []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &port}, {Protocol: &udp, Port: &port}}
	if s.ICMP {
		probePorts = nil // no ports: all protocols, ICMP included
	}
	agents := &metav1.LabelSelector{MatchLabels: map[string]string{NameLabel: AgentName}}
	// One rule per kind of peer and family (rules are ORed, so this is the
	// same policy): engines that compute pod sets per family (kube-router)
	// mishandle a rule mixing pod selectors with ipBlocks of both families.
	groups := [][]networkingv1.NetworkPolicyPeer{{{PodSelector: agents}}}
	v4, v6 := splitFamilies(ipBlocks(append(append([]string(nil), s.NodeIPs...), s.AgentIPs...), s.PodCIDRs))
	for _, fam := range [][]string{v4, v6} {
		var g []networkingv1.NetworkPolicyPeer
		for _, b := range fam {
			g = append(g, networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: b}})
		}
		if len(g) > 0 {
			groups = append(groups, g)
		}
	}
	var ingress []networkingv1.NetworkPolicyIngressRule
	var egress []networkingv1.NetworkPolicyEgressRule
	for _, g := range groups {
		ingress = append(ingress, networkingv1.NetworkPolicyIngressRule{Ports: probePorts, From: g})
		egress = append(egress, networkingv1.NetworkPolicyEgressRule{Ports: probePorts, To: g})
	}
	ingress = append(ingress, networkingv1.NetworkPolicyIngressRule{Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &api}}})
	egress = append(egress, networkingv1.NetworkPolicyEgressRule{Ports: []networkingv1.NetworkPolicyPort{{Protocol: &udp, Port: &dns}, {Protocol: &tcp, Port: &dns}}})
	if len(s.CustomIPs) > 0 && len(s.CustomPorts) > 0 {
		var ports []networkingv1.NetworkPolicyPort
		for _, p := range s.CustomPorts {
			p := intstr.FromInt32(int32(p))
			ports = append(ports, networkingv1.NetworkPolicyPort{Protocol: &tcp, Port: &p}, networkingv1.NetworkPolicyPort{Protocol: &udp, Port: &p})
		}
		v4, v6 := splitFamilies(ipBlocks(s.CustomIPs, nil))
		for _, fam := range [][]string{v4, v6} {
			var to []networkingv1.NetworkPolicyPeer
			for _, b := range fam {
				to = append(to, networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: b}})
			}
			if len(to) > 0 {
				egress = append(egress, networkingv1.NetworkPolicyEgressRule{Ports: ports, To: to})
			}
		}
	}
	return &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: NetworkPolicyName, Namespace: s.Namespace, Labels: managedLabels()},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: *agents,
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
			Ingress:     ingress,
			Egress:      egress,
		},
	}
}

// splitFamilies splits CIDRs into IPv4 and IPv6 ones.
func splitFamilies(cidrs []string) (v4, v6 []string) {
	for _, c := range cidrs {
		if p, err := netip.ParsePrefix(c); err == nil && p.Addr().Is4() {
			v4 = append(v4, c)
		} else {
			v6 = append(v6, c)
		}
	}
	return v4, v6
}

// ipBlocks turns addresses into host CIDRs and keeps valid CIDRs, sorted and
// without duplicates.
func ipBlocks(ips, cidrs []string) []string {
	seen := map[string]bool{}
	for _, s := range ips {
		if a, err := netip.ParseAddr(s); err == nil {
			seen[netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()).String()] = true
		}
	}
	for _, s := range cidrs {
		if p, err := netip.ParsePrefix(s); err == nil {
			seen[p.Masked().String()] = true
		}
	}
	out := make([]string, 0, len(seen))
	for b := range seen {
		out = append(out, b)
	}
	sort.Strings(out)
	return out
}

// RefreshNetworkPolicy re-applies the agents' NetworkPolicy once the
// agents run, adding their pod IPs (s.AgentIPs). It reports whether the
// policy changed (engines then need a moment to program it).
func RefreshNetworkPolicy(ctx context.Context, c *kube.Client, s PolicySpec) (bool, error) {
	api := c.Clientset.NetworkingV1().NetworkPolicies(s.Namespace)
	before, err := api.Get(ctx, NetworkPolicyName, metav1.GetOptions{})
	if err != nil {
		return false, fmt.Errorf("reading NetworkPolicy %s/%s in cluster %s: %w", s.Namespace, NetworkPolicyName, c.Name, err)
	}
	if _, err := applyNetworkPolicy(ctx, c, s); err != nil {
		return false, fmt.Errorf("updating NetworkPolicy %s/%s in cluster %s: %w", s.Namespace, NetworkPolicyName, c.Name, err)
	}
	after, err := api.Get(ctx, NetworkPolicyName, metav1.GetOptions{})
	if err != nil {
		return false, fmt.Errorf("reading NetworkPolicy %s/%s in cluster %s: %w", s.Namespace, NetworkPolicyName, c.Name, err)
	}
	return before.ResourceVersion != after.ResourceVersion, nil
}

// applyNetworkPolicy creates or updates the agents' NetworkPolicy, with the
// node addresses read now. It reports whether it created it.
func applyNetworkPolicy(ctx context.Context, c *kube.Client, s PolicySpec) (bool, error) {
	nodes, err := c.Nodes(ctx)
	if err != nil {
		return false, err
	}
	for _, n := range nodes {
		s.NodeIPs = append(s.NodeIPs, n.InternalIPs...)
		s.PodCIDRs = append(s.PodCIDRs, n.PodCIDRs...)
	}
	np := AgentNetworkPolicy(s)
	api := c.Clientset.NetworkingV1().NetworkPolicies(s.Namespace)
	return createOrUpdate(ctx,
		func() error {
			_, err := api.Create(ctx, np, metav1.CreateOptions{})
			return err
		},
		func() error {
			cur, err := api.Get(ctx, np.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			cur.Labels = mergeLabels(cur.Labels, np.Labels)
			cur.Spec = np.Spec
			_, err = api.Update(ctx, cur, metav1.UpdateOptions{})
			return err
		})
}

// SelectingPolicies returns the NetworkPolicies in namespace, other than
// netctl's own, that select the pod-network agent pods, as
// "namespace/name", sorted. A cluster where listing them is forbidden gives
// none.
func SelectingPolicies(ctx context.Context, c *kube.Client, namespace string) ([]string, error) {
	list, err := c.Clientset.NetworkingV1().NetworkPolicies(namespace).List(ctx, metav1.ListOptions{})
	if apierrors.IsForbidden(err) || apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing NetworkPolicies in namespace %s of cluster %s: %w", namespace, c.Name, err)
	}
	pod := labels.Set(Workload{}.agentLabels(PodNetwork))
	var out []string
	for _, np := range list.Items {
		if np.Labels[ManagedByLabel] == ManagedByValue && np.Labels[PartOfLabel] == PartOfValue {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
		if err != nil || !sel.Matches(pod) {
			continue
		}
		out = append(out, np.Namespace+"/"+np.Name)
	}
	sort.Strings(out)
	return out, nil
}
