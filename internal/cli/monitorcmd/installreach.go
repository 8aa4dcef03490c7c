package monitorcmd

import (
	"context"
	"errors"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/netdoctor/netdoctor/internal/cli/clierr"
	"github.com/netdoctor/netdoctor/internal/monitor/manifest"
	"github.com/netdoctor/netdoctor/internal/reach"
)

// reachAuto is the value of --reach-ingress-class and --reach-gateway
// that lets install pick what the cluster has (netctl reach's choice).
const reachAuto = "auto"

// takeReachAuto clears the "auto" path values before validation (install
// resolves them against the cluster) and says which were set.
func takeReachAuto(r *manifest.ReachOptions) (ingress, gateway bool, err error) {
	ingress, gateway = r.IngressClass == reachAuto, r.Gateway == reachAuto
	if ingress {
		r.IngressClass = ""
	}
	if gateway {
		r.Gateway = ""
	}
	if (ingress || gateway) && r.Schedule == "" {
		err = errors.New("--reach-ingress-class, --reach-gateway: need --reach-schedule (they add paths to the reach rounds)")
	}
	return ingress, gateway, err
}

var gatewayGVR = schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "gateways"}

// resolveReachPaths checks the asked ingress and gateway paths against the
// cluster before anything is created: a named IngressClass or Gateway that
// does not exist is bad input (exit 2); "auto" picks the cluster's
// default IngressClass and first usable Gateway, or turns the path off
// with a note when there is none.
func resolveReachPaths(ctx context.Context, c *clients, r *manifest.ReachOptions, autoIngress, autoGateway bool) (notes []string, err error) {
	switch {
	case autoIngress:
		class, why := reach.IngressClassOf(ctx, c.cs)
		if class == "" {
			notes = append(notes, "ingress path off: "+why)
		}
		r.IngressClass = class
	case r.IngressClass != "":
		_, err := c.cs.NetworkingV1().IngressClasses().Get(ctx, r.IngressClass, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil, clierr.Usagef("--reach-ingress-class: IngressClass %q does not exist (see kubectl get ingressclasses, or use auto)", r.IngressClass)
		}
		if err != nil {
			return nil, fmt.Errorf("reading IngressClass %s: %w", r.IngressClass, err)
		}
	}
	switch {
	case autoGateway:
		g, why := reach.FindGateway(ctx, c.dynamic)
		if g == nil {
			notes = append(notes, "gateway path off: "+why)
		} else {
			r.Gateway = g.Namespace + "/" + g.Name
		}
	case r.Gateway != "":
		ns, name, _ := strings.Cut(r.Gateway, "/")
		_, err := c.dynamic.Resource(gatewayGVR).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil, clierr.Usagef("--reach-gateway: Gateway %s does not exist or the cluster has no Gateway API (gateway.networking.k8s.io/v1); name one of kubectl get gateways -A, or use auto", r.Gateway)
		}
		if err != nil {
			return nil, fmt.Errorf("reading Gateway %s: %w", r.Gateway, err)
		}
	}
	return notes, nil
}
