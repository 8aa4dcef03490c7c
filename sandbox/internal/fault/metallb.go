package fault

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/netdoctor/netdoctor/sandbox/internal/cluster"
	"github.com/netdoctor/netdoctor/sandbox/internal/controlplane"
	"github.com/netdoctor/netdoctor/sandbox/internal/metallb"
	"github.com/netdoctor/netdoctor/sandbox/internal/state"
)

// speakerStopped is the Change type of lb-speaker-stop: Node carries
// metallb.StoppedLabel, PID was its speaker.
const speakerStopped = "metallb-speaker-stopped"

// speakerTimeout bounds the waits for the speaker pod to go and come back.
const speakerTimeout = 60 * time.Second

// stopSpeaker takes MetalLB's speaker off the node as when its DaemonSet pod
// is gone: the node gets metallb.StoppedLabel, which the sandbox's speaker
// DaemonSet does not tolerate, so the DaemonSet controller deletes the pod
// and the kubelet stops its process (SIGTERM: the speaker leaves the
// memberlist, the other speakers re-elect the owners of its VIPs). It
// returns once the speaker process (by PID) has exited.
func (a *applier) stopSpeaker(ctx context.Context, name string) error {
	n, err := a.node(name)
	if err != nil {
		return err
	}
	if a.st.LoadBalancer == nil {
		return bad("fault lb-speaker-stop: cluster %q has no load balancer (bring it up with --load-balancer)", a.st.Name)
	}
	c, err := cluster.Client(a.st.Kubeconfig)
	if err != nil {
		return err
	}
	pod, err := speakerPod(ctx, c, n.Name)
	if err != nil {
		return err
	}
	if pod == nil || pod.DeletionTimestamp != nil {
		return fmt.Errorf("no MetalLB speaker pod runs on node %s", n.Name)
	}
	pid := speakerPID(ctx, n.Netns)
	if err := setStoppedLabel(ctx, c, n.Name, true); err != nil {
		return err
	}
	a.f.Changes = append(a.f.Changes, state.Change{Netns: n.Netns, Type: speakerStopped, Node: n.Name, PID: pid})
	return waitSpeaker(ctx, c, n.Name, n.Netns, false)
}

// startSpeaker removes the label and waits until the node's speaker pod is
// Ready again (a new pod, a new process).
func startSpeaker(ctx context.Context, st *state.State, node string) error {
	n, err := st.NodeByName(node)
	if err != nil {
		return err
	}
	c, err := cluster.Client(st.Kubeconfig)
	if err != nil {
		return err
	}
	if err := setStoppedLabel(ctx, c, n.Name, false); err != nil {
		return err
	}
	return waitSpeaker(ctx, c, n.Name, n.Netns, true)
}

func setStoppedLabel(ctx context.Context, c kubernetes.Interface, node string, on bool) error {
	var v any // null deletes the label
	if on {
		v = "true"
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]any{metallb.StoppedLabel: v}}})
	if _, err := c.CoreV1().Nodes().Patch(ctx, node, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("labelling node %s: %w", node, err)
	}
	return nil
}

// speakerPod returns the speaker pod bound to node (nil if none), also one
// being deleted.
func speakerPod(ctx context.Context, c kubernetes.Interface, node string) (*corev1.Pod, error) {
	pods, err := c.CoreV1().Pods(metallb.Namespace).List(ctx, metav1.ListOptions{
		LabelSelector: "app=metallb,component=speaker", FieldSelector: "spec.nodeName=" + node})
	if err != nil {
		return nil, fmt.Errorf("listing MetalLB speaker pods: %w", err)
	}
	// A terminating pod counts until the kubelet has removed it; a new one
	// (after remove) is preferred.
	var found *corev1.Pod
	for i := range pods.Items {
		if found == nil || pods.Items[i].DeletionTimestamp == nil {
			found = &pods.Items[i]
		}
	}
	return found, nil
}

// speakerPID finds the speaker process in the node's namespace (0 if none).
func speakerPID(ctx context.Context, netns string) int {
	pids, _ := controlplane.NetnsPIDs(ctx, netns)
	for _, p := range pids {
		if f := strings.Fields(controlplane.Cmdline(p)); len(f) > 0 && strings.HasSuffix(f[0], "/"+metallb.SpeakerBinary) && controlplane.Alive(p) {
			return p
		}
	}
	return 0
}

// waitSpeaker waits until the node's speaker is Ready with its process in
// the node (up) or its pod and process are gone (down).
func waitSpeaker(ctx context.Context, c kubernetes.Interface, node, netns string, up bool) error {
	deadline := time.Now().Add(speakerTimeout)
	for {
		pod, err := speakerPod(ctx, c, node)
		pid := speakerPID(ctx, netns)
		if err == nil {
			if !up && pod == nil && pid == 0 {
				return nil
			}
			if up && pod != nil && pod.DeletionTimestamp == nil && podReady(pod) && pid != 0 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("MetalLB speaker on %s: still %s after %s (pod %v, pid %d, %v)", node, map[bool]string{true: "not Ready", false: "running"}[up], speakerTimeout, pod != nil, pid, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
