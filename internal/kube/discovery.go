package kube

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Node is what a check needs to know about a node.
type Node struct {
	Name string
	// InternalIPs from node.status.addresses, IPv4 first.
	InternalIPs []string
	// Skip says why no agent can run on the node ("" = one can): not
	// Linux, a virtual-kubelet node, or no InternalIP.
	Skip string
	// Labels of the node, for nodeSelector.
	Labels map[string]string
	// PodCIDRs from spec.podCIDRs (or the older spec.podCIDR), IPv4 first.
	PodCIDRs []string
}

// Pod is what a check needs to know about an agent pod.
type Pod struct {
	Name      string
	Namespace string
	// Node is spec.nodeName or, for a DaemonSet pod the scheduler has not
	// placed yet, the node it is meant for (Scheduled tells which).
	Node        string
	Scheduled   bool
	IPs         []string // status.podIPs, IPv4 first
	HostNetwork bool
	Ready       bool
	Terminating bool
	// NotReady says why the pod is not Ready, from its container statuses
	// and conditions ("ImagePullBackOff", "Pending: Unschedulable: ...").
	NotReady string
	Labels   map[string]string
}

// Nodes lists every node with its InternalIP addresses, sorted by name.
func (c *Client) Nodes(ctx context.Context) ([]Node, error) {
	list, err := c.Clientset.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing nodes in cluster %s: %w", c.Name, err)
	}
	nodes := make([]Node, 0, len(list.Items))
	for i := range list.Items {
		n := &list.Items[i]
		var ips []string
		for _, a := range n.Status.Addresses {
			if a.Type == corev1.NodeInternalIP {
				ips = append(ips, a.Address)
			}
		}
		cidrs := n.Spec.PodCIDRs
		if len(cidrs) == 0 && n.Spec.PodCIDR != "" {
			cidrs = []string{n.Spec.PodCIDR}
		}
		nodes = append(nodes, Node{
			Name:        n.Name,
			InternalIPs: SortIPs(ips),
			Skip:        skipReason(n, ips),
			Labels:      n.Labels,
			PodCIDRs:    sortCIDRs(cidrs),
		})
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })
	return nodes, nil
}

// Pods lists pods matching selector in namespace, sorted by name.
func (c *Client) Pods(ctx context.Context, namespace, selector string) ([]Pod, error) {
	list, err := c.Clientset.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, fmt.Errorf("listing pods %q in namespace %s of cluster %s: %w", selector, namespace, c.Name, err)
	}
	pods := make([]Pod, 0, len(list.Items))
	for i := range list.Items {
		pods = append(pods, PodInfo(&list.Items[i]))
	}
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	return pods, nil
}

// PodInfo extracts a Pod from the API object.
func PodInfo(p *corev1.Pod) Pod {
	var ips []string
	for _, ip := range p.Status.PodIPs {
		ips = append(ips, ip.IP)
	}
	if len(ips) == 0 && p.Status.PodIP != "" {
		ips = []string{p.Status.PodIP}
	}
	out := Pod{
		Name:        p.Name,
		Namespace:   p.Namespace,
		Node:        p.Spec.NodeName,
		Scheduled:   p.Spec.NodeName != "",
		IPs:         SortIPs(ips),
		HostNetwork: p.Spec.HostNetwork,
		Terminating: p.DeletionTimestamp != nil,
		Labels:      p.Labels,
	}
	if !out.Scheduled {
		out.Node = daemonSetNode(p)
	}
	out.Ready = PodReady(p) && !out.Terminating
	if !out.Ready {
		out.NotReady = notReadyReason(p)
	}
	return out
}

// daemonSetNode is the node a DaemonSet pod is meant for: the DaemonSet
// controller pins each pod with a required node affinity on the field
// metadata.name. Knowing it lets an unschedulable agent (a full node, say)
// be reported on its node with the scheduler's reason.
func daemonSetNode(p *corev1.Pod) string {
	a := p.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return ""
	}
	for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		for _, f := range term.MatchFields {
			if f.Key == "metadata.name" && f.Operator == corev1.NodeSelectorOpIn && len(f.Values) == 1 {
				return f.Values[0]
			}
		}
	}
	return ""
}

// PodReady is netctl's one readiness rule for an agent pod, used by every
// inventory (check, diagnose, the monitor's roster): running, and its
// Ready condition true.
func PodReady(p *corev1.Pod) bool {
	if p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// notReadyReason picks the most telling reason a pod is not Ready: a
// container's waiting/terminated reason beats the pod's conditions.
func notReadyReason(p *corev1.Pod) string {
	if p.DeletionTimestamp != nil {
		return "Terminating"
	}
	for _, cs := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		switch {
		case cs.State.Waiting != nil && cs.State.Waiting.Reason == "CrashLoopBackOff" && cs.LastTerminationState.Terminated != nil:
			// The back-off message is boilerplate; the last exit says why.
			t := cs.LastTerminationState.Terminated
			return withMessage(fmt.Sprintf("CrashLoopBackOff: exited with code %d", t.ExitCode), t.Message)
		case cs.State.Waiting != nil && cs.State.Waiting.Reason != "" && cs.State.Waiting.Reason != "ContainerCreating" && cs.State.Waiting.Reason != "PodInitializing":
			return withMessage(cs.State.Waiting.Reason, cs.State.Waiting.Message)
		case cs.State.Terminated != nil:
			return withMessage("container exited: "+cs.State.Terminated.Reason, cs.State.Terminated.Message)
		case cs.State.Running != nil && !cs.Ready:
			if cs.LastTerminationState.Terminated != nil && cs.RestartCount > 0 {
				return fmt.Sprintf("running but not ready (restarted %d times, last exit: %s)", cs.RestartCount, cs.LastTerminationState.Terminated.Reason)
			}
			return "running but readiness probe (/readyz) not passing"
		case cs.State.Waiting != nil:
			return cs.State.Waiting.Reason
		}
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status != corev1.ConditionTrue {
			return withMessage("not scheduled: "+c.Reason, c.Message)
		}
	}
	if p.Status.Phase == "" {
		return "Pending"
	}
	if p.Status.Reason != "" {
		return withMessage(string(p.Status.Phase)+": "+p.Status.Reason, p.Status.Message)
	}
	return string(p.Status.Phase)
}

func withMessage(reason, msg string) string {
	// The last line: with TerminationMessageFallbackToLogsOnError the
	// message is the log's tail, whose last line is the error.
	lines := strings.Split(strings.TrimSpace(msg), "\n")
	msg = strings.TrimSpace(lines[len(lines)-1])
	if msg == "" {
		return reason
	}
	const max = 160
	if len(msg) > max {
		msg = msg[:max] + "..."
	}
	return reason + " (" + msg + ")"
}

// ClusterDNSIPs returns the ClusterIPs of kube-system/kube-dns, or of
// kube-system/coredns when there is no kube-dns Service, IPv4 first.
func (c *Client) ClusterDNSIPs(ctx context.Context) ([]string, error) {
	for _, name := range []string{"kube-dns", "coredns"} {
		svc, err := c.Clientset.CoreV1().Services("kube-system").Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading Service kube-system/%s in cluster %s: %w", name, c.Name, err)
		}
		ips := svc.Spec.ClusterIPs
		if len(ips) == 0 && svc.Spec.ClusterIP != "" {
			ips = []string{svc.Spec.ClusterIP}
		}
		var out []string
		for _, ip := range ips {
			if ip != corev1.ClusterIPNone {
				out = append(out, ip)
			}
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("the kube-system/%s Service in cluster %s has no ClusterIP; set targetDNSServer", name, c.Name)
		}
		return SortIPs(out), nil
	}
	return nil, fmt.Errorf("no cluster DNS Service (kube-system/kube-dns or kube-system/coredns) in cluster %s; set targetDNSServer", c.Name)
}

// SortIPs returns ips with IPv4 before IPv6, otherwise in the given order.
// Strings that do not parse are kept at the end.
func SortIPs(ips []string) []string {
	out := append([]string(nil), ips...)
	rank := func(s string) int {
		a, err := netip.ParseAddr(s)
		switch {
		case err != nil:
			return 2
		case a.Is4() || a.Is4In6():
			return 0
		}
		return 1
	}
	sort.SliceStable(out, func(i, j int) bool { return rank(out[i]) < rank(out[j]) })
	return out
}

// sortCIDRs orders prefixes IPv4 first, keeping the order within a family.
func sortCIDRs(cidrs []string) []string {
	if len(cidrs) == 0 {
		return nil
	}
	out := make([]string, 0, len(cidrs))
	for _, v6 := range []bool{false, true} {
		for _, c := range cidrs {
			if strings.Contains(c, ":") == v6 {
				out = append(out, c)
			}
		}
	}
	return out
}

// FailedCreate returns the message of the newest FailedCreate event of
// DaemonSet name (why its controller cannot create pods: admission, quota,
// ...), or "" when there is none or events cannot be read (reading them is
// optional: it only improves a reason).
func (c *Client) FailedCreate(ctx context.Context, namespace, name string) string {
	evs, err := c.Clientset.CoreV1().Events(namespace).List(ctx, metav1.ListOptions{
		FieldSelector: "involvedObject.kind=DaemonSet,involvedObject.name=" + name + ",reason=FailedCreate"})
	if err != nil {
		return ""
	}
	var newest *corev1.Event
	for i := range evs.Items {
		e := &evs.Items[i]
		if e.Reason != "FailedCreate" || e.InvolvedObject.Kind != "DaemonSet" || e.InvolvedObject.Name != name {
			continue // a client that ignores field selectors
		}
		if newest == nil || eventTime(e).After(eventTime(newest)) {
			newest = e
		}
	}
	if newest == nil {
		return ""
	}
	return strings.Join(strings.Fields(newest.Message), " ")
}

func eventTime(e *corev1.Event) time.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}

// VirtualKubeletTaint is the taint virtual-kubelet nodes carry.
const VirtualKubeletTaint = "virtual-kubelet.io/provider"

// skipReason says why no agent can run on n, or "".
func skipReason(n *corev1.Node, ips []string) string {
	if os := n.Labels[corev1.LabelOSStable]; os != "" && os != "linux" {
		return fmt.Sprintf("%s=%s: the agent is a Linux binary", corev1.LabelOSStable, os)
	}
	if n.Labels["type"] == "virtual-kubelet" {
		return "virtual-kubelet node (type=virtual-kubelet): no node network to check"
	}
	for _, t := range n.Spec.Taints {
		if t.Key == VirtualKubeletTaint {
			return fmt.Sprintf("virtual-kubelet node (taint %s=%s): no node network to check", t.Key, t.Value)
		}
	}
	if len(ips) == 0 {
		return "no InternalIP in status.addresses: the node cannot be addressed"
	}
	return ""
}
