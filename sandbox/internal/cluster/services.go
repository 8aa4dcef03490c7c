package cluster

import (
	"context"
	_ "embed"
	"fmt"
	"time"

	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiext "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"github.com/netdoctor/netdoctor/sandbox/internal/multus"
	"github.com/netdoctor/netdoctor/sandbox/internal/netcfg"
	"github.com/netdoctor/netdoctor/sandbox/internal/plan"
)

// createSegment makes the second segment of up --multus (its guards are
// already in place: reserve added them with the others).
func (u *upper) createSegment(ctx context.Context) error {
	s := u.s
	if s.Segment == nil {
		return nil
	}
	if err := netcfg.CreateSegment(ctx, &s.Plan); err != nil {
		return err
	}
	u.logf("second segment: bridge %s, %s in every node, ranges %v", s.Segment.Bridge, plan.SegmentNodeLink, s.Segment.Ranges)
	return nil
}

// installMultus creates the NetworkAttachmentDefinition CRD (up --multus);
// the kubelet then honours k8s.v1.cni.cncf.io/networks.
func (u *upper) installMultus(ctx context.Context) error {
	if u.s.Segment == nil {
		return nil
	}
	rc, err := clientcmd.BuildConfigFromFlags("", u.s.Kubeconfig)
	if err != nil {
		return err
	}
	if err := installCRD(ctx, rc); err != nil {
		return fmt.Errorf("--multus: %w", err)
	}
	u.logf("Multus model: CRD %s established", multus.CRDName)
	return nil
}

// The NetworkAttachmentDefinition CRD as Multus ships it
// (k8snetworkplumbingwg/multus-cni deployments/multus-daemonset.yml).
//
//go:embed multus-crd.yaml
var multusCRD []byte

// installCRD creates the NetworkAttachmentDefinition CRD and waits until the
// API server serves it (Established).
func installCRD(ctx context.Context, rc *rest.Config) error {
	c, err := apiext.NewForConfig(rc)
	if err != nil {
		return err
	}
	var crd apiextv1.CustomResourceDefinition
	if err := yaml.UnmarshalStrict(multusCRD, &crd); err != nil {
		return fmt.Errorf("decoding the NetworkAttachmentDefinition CRD: %w", err)
	}
	if _, err := c.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, &crd, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating CRD %s: %w", multus.CRDName, err)
	}
	for {
		got, err := c.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, multus.CRDName, metav1.GetOptions{})
		if err == nil {
			for _, cond := range got.Status.Conditions {
				if cond.Type == apiextv1.Established && cond.Status == apiextv1.ConditionTrue {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("CRD %s not established: %w", multus.CRDName, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}
