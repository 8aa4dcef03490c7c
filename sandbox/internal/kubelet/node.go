package kubelet

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	coordv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
)

const (
	kubeletPort        = 10250
	leaseDuration      = 40 // seconds, as the real kubelet
	leaseRenewEvery    = 10 * time.Second
	heartbeatEvery     = time.Minute
	kubeletVersion     = "v1.34.4"
	containerRuntime   = "netdoctor-sandbox://0.1"
	nodeLeaseNamespace = "kube-node-lease"
)

// nodeState is what the kubelet keeps per simulated node.
type nodeState struct {
	Node
	netnsPath string
	cidrs     []netip.Prefix
	gateways  []netip.Addr // IPv4 gateway per v4 CIDR (first host address); IPv6 uses fe80::1
	ipam      *allocator
	uid       types.UID
}

func newNodeState(n Node, ipamFile string) (*nodeState, error) {
	s := &nodeState{Node: n, netnsPath: netnsPath(n.Netns)}
	for _, c := range n.PodCIDRs {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return nil, fmt.Errorf("node %q: pod CIDR %q: %w", n.Name, c, err)
		}
		s.cidrs = append(s.cidrs, p.Masked())
		if p.Addr().Is4() {
			s.gateways = append(s.gateways, p.Masked().Addr().Next())
		}
	}
	// Canonical text (RFC 5952): the API server warns about any other form.
	s.IPs = nil
	for _, ip := range n.IPs {
		a, err := netip.ParseAddr(ip)
		if err != nil {
			return nil, fmt.Errorf("node %q: IP %q: %w", n.Name, ip, err)
		}
		s.IPs = append(s.IPs, a.String())
	}
	a, err := newAllocator(ipamFile, s.cidrs)
	if err != nil {
		return nil, fmt.Errorf("node %q: %w", n.Name, err)
	}
	s.ipam = a
	return s, nil
}

func (k *kubelet) buildNode(n *nodeState) *corev1.Node {
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:              resource.MustParse("8"),
		corev1.ResourceMemory:           resource.MustParse("16Gi"),
		corev1.ResourcePods:             resource.MustParse("110"),
		corev1.ResourceEphemeralStorage: resource.MustParse("100Gi"),
	}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: n.Name,
			Labels: map[string]string{
				corev1.LabelHostname:     n.Name,
				corev1.LabelOSStable:     "linux",
				corev1.LabelArchStable:   "amd64",
				corev1.LabelTopologyZone: n.Zone,
				"netdoctor.io/sandbox":   k.cfg.ClusterName,
			},
		},
		Spec: corev1.NodeSpec{PodCIDRs: n.PodCIDRs},
	}
	if n.Zone == "" {
		delete(node.Labels, corev1.LabelTopologyZone)
	}
	if len(n.PodCIDRs) > 0 {
		node.Spec.PodCIDR = n.PodCIDRs[0]
	}
	node.Status = corev1.NodeStatus{
		Capacity:    capacity,
		Allocatable: capacity.DeepCopy(),
		Phase:       corev1.NodeRunning,
		Conditions:  nodeConditions(metav1.Now()),
		// InternalIP only: a Hostname address would make the API server
		// resolve node names through the host resolver.
		Addresses:       nodeAddresses(n),
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: kubeletPort}},
		NodeInfo: corev1.NodeSystemInfo{
			MachineID:               n.Name,
			SystemUUID:              n.Name,
			BootID:                  n.Name,
			KernelVersion:           "sandbox",
			OSImage:                 "netdoctor sandbox",
			ContainerRuntimeVersion: containerRuntime,
			KubeletVersion:          kubeletVersion,
			OperatingSystem:         "linux",
			Architecture:            "amd64",
		},
	}
	decorateAgentless(n, node)
	return node
}

func nodeAddresses(n *nodeState) []corev1.NodeAddress {
	var out []corev1.NodeAddress
	for _, ip := range n.IPs {
		out = append(out, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: ip})
	}
	return out
}

func nodeConditions(now metav1.Time) []corev1.NodeCondition {
	c := func(t corev1.NodeConditionType, s corev1.ConditionStatus, reason, msg string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: t, Status: s, Reason: reason, Message: msg, LastHeartbeatTime: now, LastTransitionTime: now}
	}
	return []corev1.NodeCondition{
		c(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
		c(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
		c(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
		c(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "kubelet is posting ready status"),
	}
}

// registerNodes creates (or, after a restart, updates) every Node in parallel.
func (k *kubelet) registerNodes(ctx context.Context) error {
	errc := make(chan error, len(k.nodes))
	sem := make(chan struct{}, 16)
	for _, n := range k.nodes {
		go func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			errc <- k.registerNode(ctx, n)
		}()
	}
	var first error
	for range k.nodes {
		if err := <-errc; err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (k *kubelet) registerNode(ctx context.Context, n *nodeState) error {
	want := k.buildNode(n)
	created, err := k.client.CoreV1().Nodes().Create(ctx, want, metav1.CreateOptions{})
	if err == nil {
		n.uid = created.UID
		return nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("registering node %s: %w", n.Name, err)
	}
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := k.client.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if cur.Labels == nil {
			cur.Labels = map[string]string{}
		}
		for key, v := range want.Labels {
			cur.Labels[key] = v
		}
		if len(cur.Spec.Taints) == 0 {
			cur.Spec.Taints = want.Spec.Taints
		}
		if len(cur.Spec.PodCIDRs) == 0 { // immutable once set
			cur.Spec.PodCIDR, cur.Spec.PodCIDRs = want.Spec.PodCIDR, want.Spec.PodCIDRs
		}
		upd, err := k.client.CoreV1().Nodes().Update(ctx, cur, metav1.UpdateOptions{})
		if err != nil {
			return err
		}
		upd.Status = want.Status
		upd, err = k.client.CoreV1().Nodes().UpdateStatus(ctx, upd, metav1.UpdateOptions{})
		if err != nil {
			return err
		}
		n.uid = upd.UID
		return nil
	})
	if err != nil {
		return fmt.Errorf("updating existing node %s: %w", n.Name, err)
	}
	return nil
}

// keepNodeAlive renews the node's Lease every 10 s and refreshes the Ready
// condition's heartbeat every minute, until ctx ends.
func (k *kubelet) keepNodeAlive(ctx context.Context, n *nodeState) {
	jitter := func(d time.Duration) time.Duration { return d - time.Duration(rand.Int64N(int64(d/5))) }
	k.renewLease(ctx, n)
	lease := time.NewTimer(jitter(leaseRenewEvery))
	beat := time.NewTimer(jitter(heartbeatEvery))
	defer lease.Stop()
	defer beat.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-lease.C:
			k.renewLease(ctx, n)
			lease.Reset(jitter(leaseRenewEvery))
		case <-beat.C:
			k.heartbeat(ctx, n)
			beat.Reset(jitter(heartbeatEvery))
		}
	}
}

func (k *kubelet) renewLease(ctx context.Context, n *nodeState) {
	leases := k.client.CoordinationV1().Leases(nodeLeaseNamespace)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		now := metav1.NewMicroTime(time.Now())
		cur, err := leases.Get(ctx, n.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			l := &coordv1.Lease{
				ObjectMeta: metav1.ObjectMeta{Name: n.Name, Namespace: nodeLeaseNamespace},
				Spec: coordv1.LeaseSpec{
					HolderIdentity:       ptr.To(n.Name),
					LeaseDurationSeconds: ptr.To[int32](leaseDuration),
					RenewTime:            &now,
				},
			}
			if n.uid != "" {
				l.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: n.Name, UID: n.uid}}
			}
			_, err = leases.Create(ctx, l, metav1.CreateOptions{})
			return err
		}
		if err != nil {
			return err
		}
		cur.Spec.HolderIdentity = ptr.To(n.Name)
		cur.Spec.LeaseDurationSeconds = ptr.To[int32](leaseDuration)
		cur.Spec.RenewTime = &now
		_, err = leases.Update(ctx, cur, metav1.UpdateOptions{})
		return err
	})
	if err != nil && ctx.Err() == nil {
		k.log.Printf("node %s: renewing lease: %v", n.Name, err)
	}
}

// heartbeat refreshes the node conditions with a strategic merge patch
// (conditions merge by type, so nothing else is overwritten and no conflict
// is possible).
func (k *kubelet) heartbeat(ctx context.Context, n *nodeState) {
	now := metav1.Now()
	conds := nodeConditions(now)
	// lastTransitionTime must not move on a heartbeat: leave it out.
	var items []string
	for _, c := range conds {
		items = append(items, fmt.Sprintf(`{"type":%q,"status":%q,"reason":%q,"message":%q,"lastHeartbeatTime":%q}`,
			c.Type, c.Status, c.Reason, c.Message, now.UTC().Format(time.RFC3339)))
	}
	patch := fmt.Sprintf(`{"status":{"conditions":[%s]}}`, joinComma(items))
	_, err := k.client.CoreV1().Nodes().Patch(ctx, n.Name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}, "status")
	if apierrors.IsNotFound(err) {
		// Someone deleted our Node: register it again.
		err = k.registerNode(ctx, n)
	}
	if err != nil && ctx.Err() == nil {
		k.log.Printf("node %s: heartbeat: %v", n.Name, err)
	}
}

func joinComma(items []string) string {
	out := ""
	for i, s := range items {
		if i > 0 {
			out += ","
		}
		out += s
	}
	return out
}
