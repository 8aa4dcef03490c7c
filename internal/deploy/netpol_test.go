package deploy

import (
	"bytes"
	"context"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes/fake"
)

func testNode(name string, ips []string, cidrs []string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelOSStable: "linux"}}}
	for _, ip := range ips {
		n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: ip})
	}
	n.Spec.PodCIDRs = cidrs
	return n
}

// TestAgentNetworkPolicy: the policy selects the agents (both networks),
// admits the probe port (tcp+udp) from agents, node /32 and /128 and pod
// CIDRs, the api port from anywhere, and egress to the same peers on the
// probe port, to DNS on 53, and to customized targets.
func TestAgentNetworkPolicy(t *testing.T) {
	np := AgentNetworkPolicy(PolicySpec{Namespace: "nd", Port: 8889,
		NodeIPs: []string{"10.0.0.2", "fd00::2", "10.0.0.2", "bogus"}, PodCIDRs: []string{"10.244.1.0/24", "fd00:10:244:1::/64"},
		CustomIPs: []string{"192.0.2.7"}, CustomPorts: []int{443}})
	if np.Name != NetworkPolicyName || np.Namespace != "nd" || np.Labels[ManagedByLabel] != ManagedByValue || np.Labels[PartOfLabel] != PartOfValue {
		t.Errorf("meta %+v", np.ObjectMeta)
	}
	sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []Network{PodNetwork, HostNetwork} {
		if !sel.Matches(labels.Set(Workload{}.agentLabels(n))) {
			t.Errorf("policy does not select the %s-network agents", n)
		}
	}
	if sel.Matches(labels.Set{"app": "user"}) {
		t.Error("policy selects other pods")
	}
	if !reflect.DeepEqual(np.Spec.PolicyTypes, []networkingv1.PolicyType{"Ingress", "Egress"}) {
		t.Errorf("policyTypes %v", np.Spec.PolicyTypes)
	}
	ports := func(ps []networkingv1.NetworkPolicyPort) string {
		var s []string
		for _, p := range ps {
			s = append(s, string(*p.Protocol)+"/"+p.Port.String())
		}
		return strings.Join(s, ",")
	}
	peers := func(ps []networkingv1.NetworkPolicyPeer) string {
		var s []string
		for _, p := range ps {
			switch {
			case p.IPBlock != nil:
				s = append(s, p.IPBlock.CIDR)
			case p.PodSelector != nil:
				s = append(s, "agents:"+p.PodSelector.MatchLabels[NameLabel])
			}
		}
		return strings.Join(s, ",")
	}
	// One rule per peer kind and family (kube-router mishandles mixed ones).
	wantPeers := []string{"agents:netdoctor-agent", "10.0.0.2/32,10.244.1.0/24", "fd00:10:244:1::/64,fd00::2/128"}
	in := np.Spec.Ingress
	if len(in) != 4 {
		t.Fatalf("ingress %+v", in)
	}
	for i, want := range wantPeers {
		if ports(in[i].Ports) != "TCP/8889,UDP/8889" || peers(in[i].From) != want {
			t.Errorf("ingress rule %d: %s from %s, want probe ports from %s", i, ports(in[i].Ports), peers(in[i].From), want)
		}
	}
	if ports(in[3].Ports) != "TCP/8890" || len(in[3].From) != 0 {
		t.Errorf("api port ingress %s from %s, want TCP/8890 from anywhere", ports(in[3].Ports), peers(in[3].From))
	}
	eg := np.Spec.Egress
	if len(eg) != 5 {
		t.Fatalf("egress %+v", eg)
	}
	for i, want := range wantPeers {
		if ports(eg[i].Ports) != "TCP/8889,UDP/8889" || peers(eg[i].To) != want {
			t.Errorf("egress rule %d: %s to %s, want probe ports to %s", i, ports(eg[i].Ports), peers(eg[i].To), want)
		}
	}
	if ports(eg[3].Ports) != "UDP/53,TCP/53" || len(eg[3].To) != 0 {
		t.Errorf("dns egress %s to %s", ports(eg[3].Ports), peers(eg[3].To))
	}
	if ports(eg[4].Ports) != "TCP/443,UDP/443" || peers(eg[4].To) != "192.0.2.7/32" {
		t.Errorf("custom egress %s to %s", ports(eg[4].Ports), peers(eg[4].To))
	}
}

// TestAgentNetworkPolicyICMP: with ICMP (which a NetworkPolicy cannot name)
// the rules among agents and nodes carry no ports, so they admit every
// protocol between those peers; the api port, DNS and customized-target
// rules keep theirs.
func TestAgentNetworkPolicyICMP(t *testing.T) {
	np := AgentNetworkPolicy(PolicySpec{Namespace: "nd", Port: 8889, ICMP: true,
		NodeIPs: []string{"10.0.0.2", "fd00::2"}, CustomIPs: []string{"192.0.2.7"}, CustomPorts: []int{443}})
	in, eg := np.Spec.Ingress, np.Spec.Egress
	if len(in) != 4 || len(eg) != 5 {
		t.Fatalf("%d ingress, %d egress rules; want 4 and 5", len(in), len(eg))
	}
	for i := 0; i < 3; i++ {
		if len(in[i].Ports) != 0 || len(in[i].From) == 0 {
			t.Errorf("ingress rule %d among agents and nodes: ports %v from %d peers; want no ports", i, in[i].Ports, len(in[i].From))
		}
		if len(eg[i].Ports) != 0 || len(eg[i].To) == 0 {
			t.Errorf("egress rule %d among agents and nodes: ports %v to %d peers; want no ports", i, eg[i].Ports, len(eg[i].To))
		}
	}
	if len(in[3].Ports) != 1 || len(eg[3].Ports) != 2 || len(eg[4].Ports) != 2 {
		t.Errorf("api, dns and custom rules lost their ports: %v %v %v", in[3].Ports, eg[3].Ports, eg[4].Ports)
	}
}

// TestApplyNetworkPolicyAndClean: Apply with NetworkPolicy creates netctl's
// policy from the nodes' addresses; clean deletes it and keeps the user's.
func TestApplyNetworkPolicyAndClean(t *testing.T) {
	userNP := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "default-deny", Namespace: "nd"},
		Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{"Ingress", "Egress"}}}
	other := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "web-only", Namespace: "nd"},
		Spec: networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}}
	cs := fake.NewClientset(testNode("n1", []string{"10.0.0.1", "fd00::1"}, []string{"10.244.0.0/24"}), userNP, other)
	allowAllExcept(cs)
	c := client(cs)
	ctx := context.Background()
	var log bytes.Buffer
	if _, err := Apply(ctx, c, Plan{Namespace: "nd", Image: "x/netctl:v1", Port: 8889, Networks: []Network{PodNetwork}, NetworkPolicy: true}, &log); err != nil {
		t.Fatal(err)
	}
	np, err := cs.NetworkingV1().NetworkPolicies("nd").Get(ctx, NetworkPolicyName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("netctl's NetworkPolicy: %v", err)
	}
	var cidrs []string
	for _, r := range np.Spec.Ingress {
		for _, p := range r.From {
			if p.IPBlock != nil {
				cidrs = append(cidrs, p.IPBlock.CIDR)
			}
		}
	}
	if strings.Join(cidrs, " ") != "10.0.0.1/32 10.244.0.0/24 fd00::1/128" {
		t.Errorf("ipBlocks %v", cidrs)
	}
	if !strings.Contains(log.String(), "created NetworkPolicy nd/netdoctor-agent") {
		t.Errorf("log %q", log.String())
	}

	got, err := SelectingPolicies(ctx, c, "nd")
	if err != nil || !reflect.DeepEqual(got, []string{"nd/default-deny"}) {
		t.Errorf("SelectingPolicies = %v, %v; want only the user's default-deny (not netctl's, not web-only)", got, err)
	}

	if err := Clean(ctx, c, CleanScope{Namespace: "nd"}, &log); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.NetworkingV1().NetworkPolicies("nd").Get(ctx, NetworkPolicyName, metav1.GetOptions{}); err == nil {
		t.Error("clean left netctl's NetworkPolicy")
	}
	for _, name := range []string{"default-deny", "web-only"} {
		if _, err := cs.NetworkingV1().NetworkPolicies("nd").Get(ctx, name, metav1.GetOptions{}); err != nil {
			t.Errorf("clean deleted the user's NetworkPolicy %s: %v", name, err)
		}
	}
}

// TestApplyNetworkPolicyNone: without NetworkPolicy no policy is created.
func TestApplyNetworkPolicyNone(t *testing.T) {
	cs := fake.NewClientset(testNode("n1", []string{"10.0.0.1"}, nil))
	allowAllExcept(cs)
	if _, err := Apply(context.Background(), client(cs), Plan{Namespace: "nd", Image: "x/netctl:v1", Port: 8889, Networks: []Network{PodNetwork}}, nil); err != nil {
		t.Fatal(err)
	}
	list, _ := cs.NetworkingV1().NetworkPolicies("nd").List(context.Background(), metav1.ListOptions{})
	if len(list.Items) != 0 {
		t.Errorf("networkPolicy none created %d policies", len(list.Items))
	}
}

// TestPreflightNetworkPolicy: with a policy to create, missing
// NetworkPolicy permissions are named, with the way to do without.
func TestPreflightNetworkPolicy(t *testing.T) {
	cs := fake.NewClientset()
	allowAllExcept(cs, "create networkpolicies")
	if err := Preflight(context.Background(), client(cs), "nd"); err != nil {
		t.Errorf("without policy: %v", err)
	}
	err := Preflight(context.Background(), client(cs), "nd", NeedNetworkPolicy)
	if err == nil || !strings.Contains(err.Error(), "cannot create networkpolicies.networking.k8s.io") || !strings.Contains(err.Error(), "--network-policy none") {
		t.Errorf("with policy: %v", err)
	}
}
