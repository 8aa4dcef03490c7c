package check

import (
	"context"
	"errors"
	"io"

	"github.com/netdoctor/netdoctor/internal/config"
	"github.com/netdoctor/netdoctor/internal/deploy"
	"github.com/netdoctor/netdoctor/internal/kube"
	"github.com/netdoctor/netdoctor/internal/plan"
)

// CleanOptions say where `netctl clean` looks.
type CleanOptions struct {
	SrcKubeconfig, SrcContext, DstKubeconfig, DstContext, Namespace string
	Log                                                             io.Writer
}

// Clean deletes what netctl created in the source (and destination)
// cluster: labelled objects in every namespace (falling back to Namespace
// when cross-namespace listing is forbidden) and namespaces netctl created.
func Clean(ctx context.Context, opts CleanOptions) error {
	log := opts.Log
	if log == nil {
		log = io.Discard
	}
	ns := opts.Namespace
	if ns == "" {
		ns = config.DefaultNamespace
	}
	targets := []struct{ name, kubeconfig, context, hint string }{
		{plan.SrcCluster, opts.SrcKubeconfig, opts.SrcContext, "srcKubeConfig/--kubeconfig"},
	}
	if opts.DstKubeconfig != "" {
		targets = append(targets, struct{ name, kubeconfig, context, hint string }{plan.DstCluster, opts.DstKubeconfig, opts.DstContext, "dstKubeConfig/--dst-kubeconfig"})
	}
	var errs []error
	for _, t := range targets {
		c, err := kube.New(ctx, t.name, kube.Options{Kubeconfig: t.kubeconfig, Context: t.context, Hint: t.hint})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := deploy.Clean(ctx, c, deploy.CleanScope{Namespace: ns, AllNamespaces: true}, log); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
