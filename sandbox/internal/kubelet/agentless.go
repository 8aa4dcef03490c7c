package kubelet

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Agentless nodes register, renew their Lease and stay Ready like real
// nodes, but never run a Linux pod process, as on clusters with Windows
// nodes or virtual-kubelet nodes (AKS virtual nodes, EKS/ACI-style
// serverless pools). Pods the scheduler binds to them are reported the way
// those nodes report a Linux pod they cannot run:
//
//   - Windows: a pod whose spec.os.name is not windows is rejected at
//     admission (phase Failed, reason PodOSNotSupported, the real kubelet's
//     message); any other pod's containers stay Waiting with ErrImagePull,
//     then ImagePullBackOff, "image operating system "linux" cannot be used on
//     this platform", and the pod stays Pending.
//   - Virtual: the provider fails to create the pod, as virtual-kubelet
//     reports it: phase Pending (Failed with restartPolicy Never), reason
//     ProviderFailed and a message naming the provider.
const (
	KindWindows = "windows"
	KindVirtual = "virtual"

	// VirtualTaintKey is virtual-kubelet's NoSchedule taint; its value names
	// the provider (AKS virtual nodes use "azure").
	VirtualTaintKey = "virtual-kubelet.io/provider"
	VirtualProvider = "azure"

	windowsBuild   = "10.0.20348" // Windows Server 2022
	windowsKernel  = "10.0.20348.2700"
	windowsRuntime = "containerd://1.7.22"

	// ReasonPodOSNotSupported and the message are the real kubelet's admission result.
	ReasonPodOSNotSupported  = "PodOSNotSupported"
	messagePodOSNotSupported = "Failed to admit pod as the OS field doesn't match node OS"
	// ReasonProviderFailed is virtual-kubelet's pod status reason when its provider cannot create the pod.
	ReasonProviderFailed = "ProviderFailed"
)

func isAgentless(kind string) bool { return kind == KindWindows || kind == KindVirtual }

func (n *nodeState) agentless() bool { return isAgentless(n.Kind) }

func validateAgentless(i int, n Node, seen map[string]bool) []error {
	var errs []error
	if !isAgentless(n.Kind) {
		errs = append(errs, fmt.Errorf("kubelet config: Nodes[%d]: unknown kind %q (want %q or %q)", i, n.Kind, KindWindows, KindVirtual))
	}
	if n.Name == "" {
		errs = append(errs, fmt.Errorf("kubelet config: Nodes[%d]: Name is required", i))
	}
	if seen[n.Name] {
		errs = append(errs, fmt.Errorf("kubelet config: Nodes[%d]: duplicate name %q", i, n.Name))
	}
	seen[n.Name] = true
	if len(n.IPs) == 0 {
		errs = append(errs, fmt.Errorf("kubelet config: node %q: IPs are required", n.Name))
	}
	return errs
}

// decorateAgentless gives a Windows or virtual node the labels, taints,
// capacity and system info real ones carry.
func decorateAgentless(n *nodeState, node *corev1.Node) {
	switch n.Kind {
	case KindWindows:
		node.Labels[corev1.LabelOSStable] = "windows"
		node.Labels[corev1.LabelWindowsBuild] = windowsBuild
		node.Status.NodeInfo.OperatingSystem = "windows"
		node.Status.NodeInfo.OSImage = "Windows Server 2022 Datacenter"
		node.Status.NodeInfo.KernelVersion = windowsKernel
		node.Status.NodeInfo.ContainerRuntimeVersion = windowsRuntime
	case KindVirtual:
		node.Labels["type"] = "virtual-kubelet"
		node.Labels["kubernetes.io/role"] = "agent"
		node.Labels[corev1.LabelNodeExcludeBalancers] = "true"
		node.Spec.Taints = []corev1.Taint{{Key: VirtualTaintKey, Value: VirtualProvider, Effect: corev1.TaintEffectNoSchedule}}
		capacity := corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("10k"),
			corev1.ResourceMemory: resource.MustParse("4Ti"),
			corev1.ResourcePods:   resource.MustParse("5k"),
		}
		node.Status.Capacity, node.Status.Allocatable = capacity, capacity.DeepCopy()
		node.Status.NodeInfo.OSImage = ""
		node.Status.NodeInfo.KernelVersion = ""
		node.Status.NodeInfo.ContainerRuntimeVersion = ""
		node.Status.NodeInfo.KubeletVersion = kubeletVersion + "-vk-" + VirtualProvider
	}
}

// syncAgentless reports a pod bound to an agentless node; nothing ever
// starts. It returns when it wants to look again (zero: only when woken).
func (w *podWorker) syncAgentless(ctx context.Context, pod *corev1.Pod) time.Time {
	start := w.startTime
	switch {
	case w.node.Kind == KindVirtual:
		phase := corev1.PodPending
		if pod.Spec.RestartPolicy == corev1.RestartPolicyNever {
			phase = corev1.PodFailed
		}
		w.patchStatus(ctx, pod, corev1.PodStatus{Phase: phase, Reason: ReasonProviderFailed, StartTime: &start,
			Message: fmt.Sprintf("virtual-kubelet provider %q cannot create pod %s/%s: the sandbox's virtual node %s has no provider backend",
				VirtualProvider, pod.Namespace, pod.Name, w.node.Name)})
		return time.Time{}
	case pod.Spec.OS != nil && pod.Spec.OS.Name != corev1.Windows:
		w.patchStatus(ctx, pod, corev1.PodStatus{Phase: corev1.PodFailed, Reason: ReasonPodOSNotSupported,
			Message: messagePodOSNotSupported, StartTime: &start})
		return time.Time{}
	}
	var next time.Time
	now := time.Now()
	for _, c := range w.containers {
		c.mu.Lock()
		if c.pullFailedAt.IsZero() {
			c.pullFailedAt = now
		}
		msg := fmt.Sprintf("Failed to pull image %q: image operating system \"linux\" cannot be used on this platform (node %s is windows/amd64)", c.spec.Image, w.node.Name)
		if pod.Spec.OS != nil || strings.Contains(strings.ToLower(c.spec.Image), "windows") {
			msg = fmt.Sprintf("Failed to pull image %q: the sandbox's Windows node %s has no Windows container runtime", c.spec.Image, w.node.Name)
		}
		if now.Sub(c.pullFailedAt) < pullBackoffAfter {
			c.waitReason, c.waitMessage = "ErrImagePull", msg
			if t := c.pullFailedAt.Add(pullBackoffAfter); next.IsZero() || t.Before(next) {
				next = t
			}
		} else {
			c.waitReason, c.waitMessage = "ImagePullBackOff", "Back-off pulling image: "+msg
		}
		c.mu.Unlock()
	}
	w.hostIPs = append([]string(nil), w.node.IPs...)
	if !w.reportStatus(ctx, pod) {
		return time.Now().Add(time.Second)
	}
	return next
}
