package kubelet

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/netdoctor/netdoctor/sandbox/internal/multus"
)

// Secondary interfaces (up --multus): the kubelet plays Multus's part of
// the sandbox creation. Before the pod network exists it resolves the pod's
// k8s.v1.cni.cncf.io/networks to NetworkAttachmentDefinitions (a missing or
// invalid one fails the sandbox with Multus's error, as a
// FailedCreatePodSandBox event, and nothing is created); after eth0 it adds
// one interface per selection and writes k8s.v1.cni.cncf.io/network-status.

// attachment is one resolved selection of a pod.
type attachment struct {
	sel   multus.Selection
	conf  multus.Config
	ipam  *allocator // host-local: the NAD's cluster-wide allocator
	owner string     // allocator owner: pod UID + "/" + interface
	addrs []netip.Prefix
}

// nadObject is the part of a NetworkAttachmentDefinition we read.
type nadObject struct {
	Spec struct {
		Config string `json:"config"`
	} `json:"spec"`
}

// sandboxError wraps a Multus error the way the CNI runtime reports Multus
// failing the pod's sandbox, naming the pod as Multus does ([ns/name/uid]);
// the event adds the kubelet's "Failed to create pod sandbox: ".
func sandboxError(pod *corev1.Pod, err error) error {
	return fmt.Errorf("plugin type=\"multus\" name=\"multus-cni-network\" failed (add): Multus: [%s/%s/%s]: %w",
		pod.Namespace, pod.Name, pod.UID, err)
}

// multusError is a failure to load the pod's delegates (annotation, NADs).
func multusError(pod *corev1.Pod, err error) error {
	return sandboxError(pod, fmt.Errorf("error loading k8s delegates k8s args: TryLoadPodDelegates: error in getting k8s network for pod: GetNetworkDelegates: failed getting the delegate: %w", err))
}

// resolveNetworks reads the pod's networks annotation and the NADs it names.
func (w *podWorker) resolveNetworks(ctx context.Context, pod *corev1.Pod) ([]*attachment, error) {
	allowed := w.k.cfg.SecondaryRanges
	sels, err := multus.ParseNetworks(pod.Annotations[multus.NetworksAnnotation], pod.Namespace)
	if err != nil {
		return nil, multusError(pod, err)
	}
	var out []*attachment
	for _, s := range sels {
		path := fmt.Sprintf("/apis/%s/%s/namespaces/%s/%s/%s", multus.Group, multus.Version, s.Namespace, multus.Resource, s.Name)
		raw, err := w.k.client.Discovery().RESTClient().Get().AbsPath(path).DoRaw(ctx)
		if err != nil {
			if apierrors.IsNotFound(err) {
				err = fmt.Errorf("network-attachment-definitions.%s %q not found", multus.Group, s.Name)
			}
			return nil, multusError(pod, fmt.Errorf("getKubernetesDelegate: cannot find a network-attachment-definition (%s) in namespace (%s): %v", s.Name, s.Namespace, err))
		}
		var nad nadObject
		if err := json.Unmarshal(raw, &nad); err != nil {
			return nil, multusError(pod, fmt.Errorf("getKubernetesDelegate: decoding network-attachment-definition %s: %v", s.Ref(), err))
		}
		conf, err := multus.ParseConfig(nad.Spec.Config, allowed)
		if err != nil {
			return nil, multusError(pod, fmt.Errorf("getKubernetesDelegate: invalid network-attachment-definition %s: %v", s.Ref(), err))
		}
		a := &attachment{sel: s, conf: conf, owner: string(pod.UID) + "/" + s.Interface}
		switch conf.IPAM.Type {
		case "static":
			a.addrs = conf.IPAM.Addresses
			if len(s.IPs) > 0 {
				a.addrs = nil
				for _, ip := range s.IPs {
					p, err := netip.ParsePrefix(ip)
					if err == nil {
						err = multus.Inside("address", p, allowed)
					}
					if err != nil {
						return nil, multusError(pod, fmt.Errorf("network %s: requested ip %q: %v", s.Ref(), ip, err))
					}
					a.addrs = append(a.addrs, p)
				}
			}
		case "host-local":
			if a.ipam, err = w.k.secondaryAllocator(s.Ref(), conf.IPAM.Subnets); err != nil {
				return nil, err
			}
		}
		out = append(out, a)
	}
	return out, nil
}

// secondaryAllocator returns the cluster-wide allocator of a host-local NAD
// range set. Real host-local keeps its leases per node; the sandbox's one
// kubelet keeps them per cluster, so pods on different nodes attached to the
// same macvlan segment never get the same address.
func (k *kubelet) secondaryAllocator(ref string, subnets []netip.Prefix) (*allocator, error) {
	var key strings.Builder
	key.WriteString(ref)
	for _, s := range subnets {
		key.WriteString(" " + s.String())
	}
	k.secMu.Lock()
	defer k.secMu.Unlock()
	if a := k.secIPAM[key.String()]; a != nil {
		return a, nil
	}
	sum := sha256.Sum256([]byte(key.String()))
	a, err := newAllocator(filepath.Join(k.cfg.StateDir, "ipam", "nad-"+hex.EncodeToString(sum[:8])+".json"), subnets)
	if err != nil {
		return nil, fmt.Errorf("network %s: %w", ref, err)
	}
	k.secIPAM[key.String()] = a
	return a, nil
}

// attachSecondary creates the pod's secondary interfaces and returns their
// network-status entries. The interfaces live in the pod namespace and go
// with it; the node-side veths of bridge networks go with their peers.
func (w *podWorker) attachSecondary(atts []*attachment) ([]multus.Status, error) {
	nodeNs, err := netns.GetFromPath(w.node.netnsPath)
	if err != nil {
		return nil, err
	}
	defer nodeNs.Close()
	podNs, err := netns.GetFromPath(w.netnsPath)
	if err != nil {
		return nil, err
	}
	defer podNs.Close()
	nh, err := netlink.NewHandleAt(nodeNs)
	if err != nil {
		return nil, err
	}
	defer nh.Close()
	ph, err := netlink.NewHandleAt(podNs)
	if err != nil {
		return nil, err
	}
	defer ph.Close()
	var out []multus.Status
	for i, a := range atts {
		if a.ipam != nil {
			ips, err := a.ipam.Allocate(a.owner)
			if err != nil {
				return nil, fmt.Errorf("network %s: %w", a.sel.Ref(), err)
			}
			a.addrs = nil
			for j, ip := range ips {
				a.addrs = append(a.addrs, netip.PrefixFrom(ip, a.conf.IPAM.Subnets[j].Bits()))
			}
		}
		if err := w.addInterface(nh, ph, podNs, i, a); err != nil {
			return nil, fmt.Errorf("network %s (%s, %s): %w", a.sel.Ref(), a.conf.Type, a.sel.Interface, err)
		}
		l, err := ph.LinkByName(a.sel.Interface)
		if err != nil {
			return nil, err
		}
		st := multus.Status{Name: a.sel.Ref(), Interface: a.sel.Interface, Mac: l.Attrs().HardwareAddr.String()}
		for _, p := range a.addrs {
			st.IPs = append(st.IPs, p.Addr().String())
		}
		out = append(out, st)
	}
	return out, nil
}

func (w *podWorker) addInterface(nh, ph *netlink.Handle, podNs netns.NsHandle, i int, a *attachment) error {
	name := a.sel.Interface
	switch a.conf.Type {
	case "macvlan":
		master, err := nh.LinkByName(a.conf.Master)
		if err != nil {
			return fmt.Errorf("master %q not found in node %s: %w", a.conf.Master, w.node.Name, err)
		}
		modes := map[string]netlink.MacvlanMode{"bridge": netlink.MACVLAN_MODE_BRIDGE, "private": netlink.MACVLAN_MODE_PRIVATE,
			"vepa": netlink.MACVLAN_MODE_VEPA, "passthru": netlink.MACVLAN_MODE_PASSTHRU}
		// Created straight into the pod namespace under its final name.
		mv := &netlink.Macvlan{LinkAttrs: netlink.LinkAttrs{Name: name, ParentIndex: master.Attrs().Index, MTU: a.conf.MTU,
			Namespace: netlink.NsFd(int(podNs))}, Mode: modes[a.conf.Mode]}
		if err := nh.LinkAdd(mv); err != nil {
			return fmt.Errorf("adding macvlan on %s: %w", a.conf.Master, err)
		}
	case "bridge":
		br, err := nh.LinkByName(a.conf.Bridge)
		if err != nil {
			if err := nh.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: a.conf.Bridge, MTU: a.conf.MTU}}); err != nil {
				return fmt.Errorf("adding bridge %s in node %s: %w", a.conf.Bridge, w.node.Name, err)
			}
			if br, err = nh.LinkByName(a.conf.Bridge); err != nil {
				return err
			}
		}
		if err := nh.LinkSetUp(br); err != nil {
			return err
		}
		host := fmt.Sprintf("vs%s%d", w.shortID, i+1)
		veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: host, MTU: a.conf.MTU, MasterIndex: br.Attrs().Index},
			PeerName: name, PeerMTU: uint32(a.conf.MTU), PeerNamespace: netlink.NsFd(int(podNs))}
		if err := nh.LinkAdd(veth); err != nil {
			return fmt.Errorf("adding veth %s on bridge %s: %w", host, a.conf.Bridge, err)
		}
		hl, err := nh.LinkByName(host)
		if err != nil {
			return err
		}
		if err := nh.LinkSetUp(hl); err != nil {
			return err
		}
	}
	l, err := ph.LinkByName(name)
	if err != nil {
		return err
	}
	for _, p := range a.addrs {
		addr := &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}}
		if p.Addr().Is6() {
			addr.Flags = nodadFlag
		}
		if err := ph.AddrAdd(l, addr); err != nil {
			return fmt.Errorf("adding %s: %w", p, err)
		}
	}
	if err := ph.LinkSetUp(l); err != nil {
		return err
	}
	for _, r := range a.conf.IPAM.Routes {
		rt := &netlink.Route{LinkIndex: l.Attrs().Index, Dst: &net.IPNet{IP: r.Dst.Addr().AsSlice(), Mask: net.CIDRMask(r.Dst.Bits(), r.Dst.Addr().BitLen())}}
		if r.GW.IsValid() {
			rt.Gw = r.GW.AsSlice()
		}
		if err := ph.RouteAdd(rt); err != nil {
			return fmt.Errorf("adding route %s: %w", r.Dst, err)
		}
	}
	return nil
}

// releaseSecondary frees the host-local addresses of the pod's attachments.
func (w *podWorker) releaseSecondary() {
	for _, a := range w.attachments {
		if a.ipam != nil {
			if err := a.ipam.Release(a.owner); err != nil {
				w.k.log.Printf("pod %s: %v", w.uid, err)
			}
		}
	}
	w.attachments = nil
}

// writeNetworkStatus publishes network-status: the primary network first
// (default: true), then every secondary interface, as Multus does.
func (w *podWorker) writeNetworkStatus(ctx context.Context, pod *corev1.Pod, secondary []multus.Status) error {
	primary := multus.Status{Name: multus.DefaultNetworkName, Interface: "eth0", IPs: w.podIPs, Default: true}
	if podNs, err := netns.GetFromPath(w.netnsPath); err == nil {
		if ph, err := netlink.NewHandleAt(podNs); err == nil {
			if l, err := ph.LinkByName("eth0"); err == nil {
				primary.Mac = l.Attrs().HardwareAddr.String()
			}
			ph.Close()
		}
		podNs.Close()
	}
	js, err := multus.StatusJSON(append([]multus.Status{primary}, secondary...))
	if err != nil {
		return err
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{multus.StatusAnnotation: js}}})
	if err != nil {
		return err
	}
	_, err = w.k.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	if err != nil {
		return fmt.Errorf("writing %s: %w", multus.StatusAnnotation, err)
	}
	return nil
}

// sandboxEvent records a FailedCreatePodSandBox warning once per message.
func (w *podWorker) sandboxEvent(ctx context.Context, pod *corev1.Pod, msg string) {
	if w.lastEvent == msg {
		return
	}
	w.lastEvent = msg
	now := metav1.Now()
	ev := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{GenerateName: pod.Name + ".", Namespace: pod.Namespace},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		Reason:         "FailedCreatePodSandBox", Message: "Failed to create pod sandbox: " + msg, Type: corev1.EventTypeWarning,
		Source:         corev1.EventSource{Component: "kubelet", Host: w.node.Name},
		FirstTimestamp: now, LastTimestamp: now, Count: 1,
		ReportingController: "kubelet", ReportingInstance: w.node.Name,
	}
	if _, err := w.k.client.CoreV1().Events(pod.Namespace).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
		w.k.log.Printf("pod %s/%s: recording event: %v", pod.Namespace, pod.Name, err)
	}
}
