// Package metallb installs the sandbox's LoadBalancer implementation (`up
// --load-balancer`): MetalLB go.universe.tf/metallb v0.15.2 in L2 mode,
// deployed from MetalLB's own manifest (config/manifests/metallb-native.yaml
// of the module: namespace, CRDs, RBAC, the controller Deployment and the
// speaker DaemonSet with hostNetwork), whose two images run the binaries
// `make sandbox-metallb` builds (the mini-kubelet maps the image references
// to them). Changes to the manifest, each for a reason:
//
//   - the validating webhooks and the BGPPeer conversion webhook are left
//     out and the controller runs with --webhook-mode=disabled: the API
//     server runs in the host namespace, which by design has no route to
//     Service or pod addresses, so it could never call them;
//   - the speaker DaemonSet does not run on nodes labelled StoppedLabel (the
//     lb-speaker-stop fault: the speaker pod of that node is deleted and its
//     process stopped, as when a DaemonSet pod is gone from a node).
//
// Why pods and not daemons started by the sandbox: the speaker reads its own
// Pod object at start (it owns the ServiceL2Status objects it writes) and
// exits without one, and its memberlist (fast dead-node detection, which
// moves a VIP off a node whose speaker died) finds its peers by listing the
// speaker pods.
package metallb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

const (
	// Version is the MetalLB release the Makefile builds (v0.16 needs a
	// frr-k8s release the module proxy refuses).
	Version = "v0.15.2"
	// SpeakerBinary, ControllerBinary and ManifestFile are the files `make
	// sandbox-metallb` puts next to netdoctor-sandbox.
	SpeakerBinary    = "metallb-speaker"
	ControllerBinary = "metallb-controller"
	ManifestFile     = "metallb-native.yaml"
	// BuildTag is the git commit hack/build-metallb.sh stamps into both binaries.
	BuildTag = "netdoctor-sandbox+" + Version
	// MakeTarget builds them.
	MakeTarget = "make sandbox-metallb"
	// Namespace is where MetalLB runs and reads its configuration.
	Namespace = "metallb-system"
	// SpeakerImage and ControllerImage are the manifest's images.
	SpeakerImage    = "quay.io/metallb/speaker:" + Version
	ControllerImage = "quay.io/metallb/controller:" + Version
	// PoolName names the IPAddressPool (both families) and the L2Advertisement.
	PoolName = "sandbox"
	// StoppedLabel on a node keeps the speaker DaemonSet off it (lb-speaker-stop).
	StoppedLabel = "netdoctor.io/metallb-speaker-stopped"
	// Component names the load balancer in the state and in messages.
	Component = "MetalLB " + Version + " (L2)"
)

// Dir is where the binaries and the manifest are expected: next to the
// sandbox binary.
func Dir(self string) string { return filepath.Dir(self) }

// Check verifies that dir holds both binaries built for Version and the
// manifest naming their images. Errors name what to do.
func Check(dir string) error {
	for _, b := range []string{SpeakerBinary, ControllerBinary} {
		p := filepath.Join(dir, b)
		bin, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("%w: run `%s` (builds MetalLB %s)", err, MakeTarget, Version)
		}
		// hack/build-metallb.sh stamps BuildTag as the git commit, where
		// MetalLB's Dockerfile stamps its commit (-trimpath keeps -ldflags
		// out of the build info, so the string itself is looked for).
		if !bytes.Contains(bin, []byte(BuildTag)) {
			return fmt.Errorf("%s is not MetalLB %s as `%s` builds it (no %q in it): run `%s`", p, Version, MakeTarget, BuildTag, MakeTarget)
		}
	}
	m, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		return fmt.Errorf("%w: run `%s`", err, MakeTarget)
	}
	for _, img := range []string{SpeakerImage, ControllerImage} {
		if !bytes.Contains(m, []byte("image: "+img+"\n")) {
			return fmt.Errorf("%s does not name image %s: run `%s`", filepath.Join(dir, ManifestFile), img, MakeTarget)
		}
	}
	return nil
}

// Images maps the manifest's images to the binaries in dir (kubelet Config.Images).
func Images(dir string) map[string]string {
	return map[string]string{
		SpeakerImage:    filepath.Join(dir, SpeakerBinary),
		ControllerImage: filepath.Join(dir, ControllerBinary),
	}
}

// Objects decodes the manifest and applies the sandbox's changes (package
// doc): no webhooks, the controller's --webhook-mode=disabled, the speaker
// DaemonSet's anti-affinity to StoppedLabel.
func Objects(manifest io.Reader) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(manifest, 4096)
	var out []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("decoding %s: %w", ManifestFile, err)
		}
		if len(m) == 0 {
			continue
		}
		o := &unstructured.Unstructured{Object: m}
		switch o.GetKind() {
		case "ValidatingWebhookConfiguration":
			continue
		case "CustomResourceDefinition":
			unstructured.RemoveNestedField(o.Object, "spec", "conversion") // strategy None
		case "Deployment":
			if err := editContainer(o, func(c map[string]any) {
				args, _ := c["args"].([]any)
				c["args"] = append(args, "--webhook-mode=disabled")
			}); err != nil {
				return nil, err
			}
		case "DaemonSet":
			affinity := map[string]any{"nodeAffinity": map[string]any{
				"requiredDuringSchedulingIgnoredDuringExecution": map[string]any{
					"nodeSelectorTerms": []any{map[string]any{"matchExpressions": []any{
						map[string]any{"key": StoppedLabel, "operator": "DoesNotExist"},
					}}},
				},
			}}
			if err := unstructured.SetNestedField(o.Object, affinity, "spec", "template", "spec", "affinity"); err != nil {
				return nil, err
			}
		}
		out = append(out, o)
	}
	return out, nil
}

// editContainer applies fn to the only container of a workload.
func editContainer(o *unstructured.Unstructured, fn func(map[string]any)) error {
	cs, _, err := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
	if err != nil || len(cs) != 1 {
		return fmt.Errorf("%s %s: expected one container (%v)", o.GetKind(), o.GetName(), err)
	}
	c, _ := cs[0].(map[string]any)
	fn(c)
	return unstructured.SetNestedSlice(o.Object, cs, "spec", "template", "spec", "containers")
}

// Config returns MetalLB's configuration for the plan's pools: one
// IPAddressPool with a range per family (a dual-stack Service needs both
// from one pool; IPv4 .0 and .255 and the IPv6 subnet-router anycast
// address are avoided) and an L2Advertisement of it on
// the nodes' eth0.
func Config(pools []string) []*unstructured.Unstructured {
	addrs := make([]any, len(pools))
	for i, p := range pools {
		addrs[i] = poolRange(p)
	}
	meta := func(kind string) map[string]any {
		return map[string]any{"apiVersion": "metallb.io/v1beta1", "kind": kind,
			"metadata": map[string]any{"name": PoolName, "namespace": Namespace}}
	}
	pool := meta("IPAddressPool")
	pool["spec"] = map[string]any{"addresses": addrs, "avoidBuggyIPs": true}
	adv := meta("L2Advertisement")
	adv["spec"] = map[string]any{"ipAddressPools": []any{PoolName}, "interfaces": []any{"eth0"}}
	return []*unstructured.Unstructured{{Object: pool}, {Object: adv}}
}

// poolRange writes an IPv6 prefix as the range from its second address
// (MetalLB's avoidBuggyIPs covers IPv4 only); IPv4 stays a CIDR.
func poolRange(cidr string) string {
	p := netip.MustParsePrefix(cidr)
	if p.Addr().Is4() {
		return cidr
	}
	first := p.Masked().Addr()
	last := first.As16()
	for b := p.Bits(); b < 128; b++ {
		last[b/8] |= 0x80 >> (b % 8)
	}
	return first.Next().String() + "-" + netip.AddrFrom16(last).String()
}

// Install creates MetalLB's objects from the manifest in dir, then its
// configuration for pools (retried until the CRDs are served).
func Install(ctx context.Context, rc *rest.Config, dir string, pools []string) error {
	f, err := os.Open(filepath.Join(dir, ManifestFile))
	if err != nil {
		return err
	}
	defer f.Close()
	objs, err := Objects(f)
	if err != nil {
		return err
	}
	dc, err := dynamic.NewForConfig(rc)
	if err != nil {
		return err
	}
	for _, o := range objs {
		if err := create(ctx, dc, o); err != nil {
			return err
		}
	}
	for _, o := range Config(pools) {
		for {
			err := create(ctx, dc, o)
			if err == nil {
				break
			}
			if !apierrors.IsNotFound(err) && !meta.IsNoMatchError(err) {
				return err
			}
			select { // CRD not established yet
			case <-ctx.Done():
				return fmt.Errorf("creating %s %s: %w (last: %v)", o.GetKind(), o.GetName(), ctx.Err(), err)
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	return nil
}

func create(ctx context.Context, dc dynamic.Interface, o *unstructured.Unstructured) error {
	gvk := o.GroupVersionKind()
	gvr, _ := meta.UnsafeGuessKindToResource(gvk)
	var ri dynamic.ResourceInterface = dc.Resource(gvr)
	if ns := o.GetNamespace(); ns != "" {
		ri = dc.Resource(gvr).Namespace(ns)
	}
	if _, err := ri.Create(ctx, o, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating %s %s: %w", gvk.Kind, o.GetName(), err)
	}
	return nil
}

// WaitReady waits until the controller is available and a speaker is Ready
// on every node that should run one.
func WaitReady(ctx context.Context, c kubernetes.Interface) error {
	var last error
	for {
		if last = ready(ctx, c); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for MetalLB: %w (last: %v)", ctx.Err(), last)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func ready(ctx context.Context, c kubernetes.Interface) error {
	d, err := c.AppsV1().Deployments(Namespace).Get(ctx, "controller", metav1.GetOptions{})
	if err != nil {
		return err
	}
	if d.Status.AvailableReplicas < 1 {
		return fmt.Errorf("MetalLB controller not available yet")
	}
	ds, err := c.AppsV1().DaemonSets(Namespace).Get(ctx, "speaker", metav1.GetOptions{})
	if err != nil {
		return err
	}
	return speakersReady(ds)
}

func speakersReady(ds *appsv1.DaemonSet) error {
	s := ds.Status
	if s.ObservedGeneration < ds.Generation || s.DesiredNumberScheduled == 0 || s.NumberReady < s.DesiredNumberScheduled {
		return fmt.Errorf("MetalLB speakers %d/%d Ready", s.NumberReady, s.DesiredNumberScheduled)
	}
	return nil
}

// GVR of the configuration kinds, for readers (status, tests).
var (
	IPAddressPools   = schema.GroupVersionResource{Group: "metallb.io", Version: "v1beta1", Resource: "ipaddresspools"}
	L2Advertisements = schema.GroupVersionResource{Group: "metallb.io", Version: "v1beta1", Resource: "l2advertisements"}
)
