package server

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/netdoctor/netdoctor/internal/kube"
	"github.com/netdoctor/netdoctor/internal/monitor/api"
)

// KubeRoster lists the monitor's agent pods in one namespace and the nodes
// they run on. It needs list on pods (namespace) and nodes (cluster).
type KubeRoster struct {
	Client    kubernetes.Interface
	Namespace string
}

// Expected implements Roster: one entry per scheduled agent pod, with a
// skip reason for pods peers should not probe.
func (k KubeRoster) Expected(ctx context.Context) ([]ExpectedAgent, error) {
	pods, err := k.Client.CoreV1().Pods(k.Namespace).List(ctx, metav1.ListOptions{
		LabelSelector: api.LabelName + "=" + api.AgentAppName,
	})
	if err != nil {
		return nil, fmt.Errorf("listing agent pods in namespace %s: %w", k.Namespace, err)
	}
	nodes, err := k.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing nodes: %w", err)
	}
	byName := make(map[string]*corev1.Node, len(nodes.Items))
	for i := range nodes.Items {
		byName[nodes.Items[i].Name] = &nodes.Items[i]
	}
	var out []ExpectedAgent
	for i := range pods.Items {
		pod := &pods.Items[i]
		if pod.Spec.NodeName == "" || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			continue // not scheduled yet, or finished: not an agent
		}
		network := api.Network(pod.Labels[api.LabelNetwork])
		if network != api.NetworkPod && network != api.NetworkHost {
			network = api.NetworkPod
			if pod.Spec.HostNetwork {
				network = api.NetworkHost
			}
		}
		e := ExpectedAgent{
			Name:    api.AgentName(pod.Spec.NodeName, network),
			Node:    pod.Spec.NodeName,
			Network: network,
			Pod:     pod.Name,
			Since:   pod.CreationTimestamp.Time,
			Counted: true,
		}
		if pod.Status.StartTime != nil {
			e.Since = pod.Status.StartTime.Time
		}
		for _, ip := range pod.Status.PodIPs {
			e.IPs = append(e.IPs, ip.IP)
		}
		if len(e.IPs) == 0 && pod.Status.PodIP != "" {
			e.IPs = []string{pod.Status.PodIP}
		}
		if n := byName[pod.Spec.NodeName]; n != nil {
			e.Zone = n.Labels[corev1.LabelTopologyZone]
		}
		e.Skip, e.Counted = skipReason(pod, byName[pod.Spec.NodeName], len(e.IPs) > 0)
		out = append(out, e)
	}
	return out, nil
}

// skipReason says why peers should not probe this agent ("" = probe it) and
// whether the agent still counts for connectivity_check. Agents going away
// (terminating pod, NotReady or cordoned node) do not count.
func skipReason(pod *corev1.Pod, node *corev1.Node, hasIP bool) (string, bool) {
	switch {
	case pod.DeletionTimestamp != nil:
		return "pod terminating", false
	case node == nil:
		return "node not found", false
	case !nodeReady(node):
		return "node NotReady", false
	case node.Spec.Unschedulable:
		// Cordoned: being drained or in maintenance; its pods may go at any time.
		return "node cordoned", false
	case !hasIP:
		return "no pod IP", true
	case !kube.PodReady(pod):
		return "pod not ready", true
	}
	return "", true
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
