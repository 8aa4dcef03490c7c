package monitorcmd

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/netdoctor/netdoctor/internal/cli/clierr"
	"github.com/netdoctor/netdoctor/internal/deploy"
	"github.com/netdoctor/netdoctor/internal/monitor/api"
	"github.com/netdoctor/netdoctor/internal/monitor/manifest"
)

type uninstallOptions struct {
	kube kubeFlags
	genericiooptions.IOStreams
}

func newUninstallCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &uninstallOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "uninstall",
		Short: "Delete everything `monitor install` created",
		Long: "Delete the monitor's objects: only those labelled\n" +
			"app.kubernetes.io/managed-by=netctl and app.kubernetes.io/part-of=netdoctor-monitor,\n" +
			"and the namespace only when netctl created it.",
		Args: clierr.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return o.Run(contextOf(cmd)) },
	}
	o.kube.add(cmd.Flags())
	o.kube.AddNamespaceFlag(cmd.Flags(), manifest.DefaultNamespace, "namespace of the monitor")
	return cmd
}

// namespaced lists what install creates in the namespace, workloads first.
var namespaced = []schema.GroupVersionResource{
	{Group: "apps", Version: "v1", Resource: "daemonsets"},
	{Group: "apps", Version: "v1", Resource: "deployments"},
	{Version: "v1", Resource: "services"},
	{Version: "v1", Resource: "secrets"},
	{Version: "v1", Resource: "serviceaccounts"},
	{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "rolebindings"},
	{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "roles"},
	{Group: "monitoring.coreos.com", Version: "v1", Resource: "servicemonitors"},
	{Group: "monitoring.coreos.com", Version: "v1", Resource: "prometheusrules"},
}

var clusterScoped = []schema.GroupVersionResource{
	{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterrolebindings"},
	{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"},
}

func (o *uninstallOptions) Run(ctx context.Context) error {
	c, err := o.kube.connect(ctx)
	if err != nil {
		return err
	}
	sel := metav1.ListOptions{LabelSelector: manifest.Selector()}
	var errs []error
	deleted := 0
	del := func(gvr schema.GroupVersionResource, ns, name string) {
		ri := c.dynamic.Resource(gvr)
		var err error
		if ns != "" {
			err = ri.Namespace(ns).Delete(ctx, name, metav1.DeleteOptions{})
		} else {
			err = ri.Delete(ctx, name, metav1.DeleteOptions{})
		}
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("deleting %s %s: %w", gvr.Resource, name, err))
			return
		}
		deleted++
		fmt.Fprintf(o.Out, "%s/%s deleted\n", gvr.Resource, name)
	}
	for _, gvr := range namespaced {
		list, err := c.dynamic.Resource(gvr).Namespace(o.kube.Namespace).List(ctx, sel)
		if err != nil {
			if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
				continue // e.g. no Prometheus Operator CRDs
			}
			errs = append(errs, fmt.Errorf("listing %s: %w", gvr.Resource, err))
			continue
		}
		for _, item := range list.Items {
			del(gvr, o.kube.Namespace, item.GetName())
		}
	}
	// Cluster-scoped objects carry the namespace in their name, so another
	// namespace's monitor is left alone.
	for _, gvr := range clusterScoped {
		name := manifest.ServerRBAC + "-" + o.kube.Namespace
		obj, err := c.dynamic.Resource(gvr).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("reading %s %s: %w", gvr.Resource, name, err))
			continue
		}
		if obj.GetLabels()[api.LabelManagedBy] == api.ManagedBy {
			del(gvr, "", name)
		}
	}
	ns, err := c.cs.CoreV1().Namespaces().Get(ctx, o.kube.Namespace, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		errs = append(errs, fmt.Errorf("reading namespace %s: %w", o.kube.Namespace, err))
	case ns.Annotations[manifest.CreatedByAnnotation] == "true" && ns.Labels[api.LabelPartOf] == api.PartOf:
		// A check's agents in the same namespace keep it: uninstall never
		// touches a check.
		checks, err := c.cs.AppsV1().DaemonSets(o.kube.Namespace).List(ctx, metav1.ListOptions{LabelSelector: deploy.ManagedSelector})
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("listing netctl check agents in namespace %s: %w", o.kube.Namespace, err))
		case len(checks.Items) > 0:
			fmt.Fprintf(o.Out, "namespace/%s kept (netctl check agents run there too; `netctl clean` removes them)\n", o.kube.Namespace)
		default:
			del(schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}, "", o.kube.Namespace)
		}
	default:
		fmt.Fprintf(o.Out, "namespace/%s kept (not created by netctl monitor install)\n", o.kube.Namespace)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if deleted == 0 {
		fmt.Fprintf(o.Out, "nothing to delete: the monitor is not installed in namespace %s\n", o.kube.Namespace)
	}
	return nil
}
