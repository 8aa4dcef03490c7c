package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/netdoctor/netdoctor/internal/kube"
)

// rollbackTimeout bounds undoing a failed Apply.
const rollbackTimeout = 30 * time.Second

// CleanScope says where to clean.
type CleanScope struct {
	// Namespace is cleaned in any case.
	Namespace string
	// AllNamespaces also cleans labelled objects (and netctl-created
	// namespaces) everywhere else, e.g. after a namespace change in
	// config.json. Falls back to Namespace when listing across namespaces
	// is forbidden.
	AllNamespaces bool
}

// Clean deletes the DaemonSets, Secrets and ServiceAccounts labelled
// app.kubernetes.io/managed-by=netctl and app.kubernetes.io/part-of=
// netdoctor-check, and namespaces that carry those labels and netctl's
// created-by annotation. Objects without the labels (the user's, the
// monitor's) are never touched; a namespace the user had before, or one
// the monitor also runs in, is never deleted. Finding nothing is not an
// error.
func Clean(ctx context.Context, c *kube.Client, scope CleanScope, log io.Writer) error {
	if log == nil {
		log = io.Discard
	}
	namespaces := []string{scope.Namespace}
	if scope.AllNamespaces {
		namespaces = []string{metav1.NamespaceAll}
	}
	var errs []error
	deleted := 0
	for _, ns := range namespaces {
		n, err := cleanObjects(ctx, c, ns, log)
		if ns == metav1.NamespaceAll && apierrors.IsForbidden(err) {
			fmt.Fprintf(log, "cannot list across namespaces in cluster %s (forbidden); cleaning namespace %s only\n", c.Name, scope.Namespace)
			n, err = cleanObjects(ctx, c, scope.Namespace, log)
		}
		deleted += n
		if err != nil {
			errs = append(errs, err)
		}
	}
	gone, err := cleanNamespaces(ctx, c, scope, log)
	deleted += len(gone)
	if err != nil {
		errs = append(errs, err)
	}
	if deleted == 0 && len(errs) == 0 {
		fmt.Fprintf(log, "nothing to clean in cluster %s\n", c.Name)
		return nil
	}
	if err := waitGone(ctx, c, namespaces, gone, log); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// cleanWait bounds waiting for deleted agents and namespaces to disappear.
const cleanWait = 2 * time.Minute

// waitGone waits until no netctl-labelled pod is left in the cleaned
// namespaces and the deleted namespaces are gone, so that a check started
// right after a clean never meets a namespace that is still terminating.
func waitGone(ctx context.Context, c *kube.Client, namespaces, deletedNS []string, log io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, cleanWait)
	defer cancel()
	start := time.Now()
	for {
		left := 0
		for _, ns := range namespaces {
			pods, err := c.Clientset.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: ManagedSelector})
			if err == nil {
				left += len(pods.Items)
			}
		}
		for _, name := range deletedNS {
			if _, err := c.Clientset.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				left++
			}
		}
		if left == 0 {
			fmt.Fprintf(log, "cleaned cluster %s in %s\n", c.Name, time.Since(start).Round(time.Millisecond))
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster %s: %d netctl pods or namespaces still terminating after %s; run `netctl clean` again later",
				c.Name, left, time.Since(start).Round(time.Second))
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func cleanObjects(ctx context.Context, c *kube.Client, ns string, log io.Writer) (int, error) {
	sel := metav1.ListOptions{LabelSelector: ManagedSelector}
	bg := metav1.DeletePropagationBackground
	del := metav1.DeleteOptions{PropagationPolicy: &bg}
	core, apps := c.Clientset.CoreV1(), c.Clientset.AppsV1()
	type obj struct{ kind, ns, name string }
	var objs []obj

	dss, err := apps.DaemonSets(ns).List(ctx, sel)
	if err != nil {
		return 0, fmt.Errorf("listing netctl DaemonSets in cluster %s: %w", c.Name, err)
	}
	for _, o := range dss.Items {
		objs = append(objs, obj{"DaemonSet", o.Namespace, o.Name})
	}
	secrets, err := core.Secrets(ns).List(ctx, sel)
	if err != nil {
		return 0, fmt.Errorf("listing netctl Secrets in cluster %s: %w", c.Name, err)
	}
	for _, o := range secrets.Items {
		objs = append(objs, obj{"Secret", o.Namespace, o.Name})
	}
	sas, err := core.ServiceAccounts(ns).List(ctx, sel)
	if err != nil {
		return 0, fmt.Errorf("listing netctl ServiceAccounts in cluster %s: %w", c.Name, err)
	}
	for _, o := range sas.Items {
		objs = append(objs, obj{"ServiceAccount", o.Namespace, o.Name})
	}
	// A user who may not list NetworkPolicies cannot have had netctl
	// create one (networkPolicy: auto needs create).
	nps, err := c.Clientset.NetworkingV1().NetworkPolicies(ns).List(ctx, sel)
	switch {
	case err == nil:
		for _, o := range nps.Items {
			objs = append(objs, obj{"NetworkPolicy", o.Namespace, o.Name})
		}
	case !apierrors.IsForbidden(err) && !apierrors.IsNotFound(err):
		return 0, fmt.Errorf("listing netctl NetworkPolicies in cluster %s: %w", c.Name, err)
	}

	var errs []error
	n := 0
	for _, o := range objs {
		var err error
		switch o.kind {
		case "DaemonSet":
			err = apps.DaemonSets(o.ns).Delete(ctx, o.name, del)
		case "Secret":
			err = core.Secrets(o.ns).Delete(ctx, o.name, del)
		case "ServiceAccount":
			err = core.ServiceAccounts(o.ns).Delete(ctx, o.name, del)
		case "NetworkPolicy":
			err = c.Clientset.NetworkingV1().NetworkPolicies(o.ns).Delete(ctx, o.name, del)
		}
		switch {
		case err == nil:
			n++
			fmt.Fprintf(log, "deleted %s %s/%s in cluster %s\n", o.kind, o.ns, o.name, c.Name)
		case apierrors.IsNotFound(err):
		default:
			errs = append(errs, fmt.Errorf("deleting %s %s/%s in cluster %s: %w", o.kind, o.ns, o.name, c.Name, err))
		}
	}
	// Delete the agent pods too rather than wait for the garbage collector
	// to follow the DaemonSets: the clean is done sooner, and the wait
	// below does not depend on a controller.
	pods, err := core.Pods(ns).List(ctx, sel)
	if err != nil {
		errs = append(errs, fmt.Errorf("listing netctl pods in cluster %s: %w", c.Name, err))
	} else {
		gone := 0
		for _, p := range pods.Items {
			if err := core.Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("deleting pod %s/%s in cluster %s: %w", p.Namespace, p.Name, c.Name, err))
				continue
			}
			gone++
		}
		if gone > 0 {
			fmt.Fprintf(log, "deleted %d agent pods in cluster %s\n", gone, c.Name)
		}
	}
	return n, errors.Join(errs...)
}

// cleanNamespaces deletes namespaces netctl created: they carry both the
// managed-by label and the created-by annotation.
// It returns the names it deleted.
func cleanNamespaces(ctx context.Context, c *kube.Client, scope CleanScope, log io.Writer) ([]string, error) {
	var names []string
	if scope.AllNamespaces {
		list, err := c.Clientset.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: ManagedSelector})
		switch {
		case err == nil:
			for _, ns := range list.Items {
				if ns.Annotations[CreatedByAnnotation] == "true" {
					names = append(names, ns.Name)
				}
			}
		case apierrors.IsForbidden(err):
			scope.AllNamespaces = false
		default:
			return nil, fmt.Errorf("listing namespaces in cluster %s: %w", c.Name, err)
		}
	}
	if !scope.AllNamespaces {
		ns, err := c.Clientset.CoreV1().Namespaces().Get(ctx, scope.Namespace, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			return nil, nil
		case err != nil:
			return nil, fmt.Errorf("reading namespace %s in cluster %s: %w", scope.Namespace, c.Name, err)
		}
		if ns.Annotations[CreatedByAnnotation] == "true" && ns.Labels[ManagedByLabel] == ManagedByValue && ns.Labels[PartOfLabel] == PartOfValue {
			names = append(names, ns.Name)
		} else {
			fmt.Fprintf(log, "kept namespace %s in cluster %s: netctl did not create it\n", ns.Name, c.Name)
		}
	}
	var errs []error
	var deleted []string
	for _, name := range names {
		if other, err := othersIn(ctx, c, name); err != nil || other != "" {
			if err != nil {
				errs = append(errs, err)
			} else {
				fmt.Fprintf(log, "kept namespace %s in cluster %s: %s runs there too\n", name, c.Name, other)
			}
			continue
		}
		err := c.Clientset.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{})
		switch {
		case err == nil:
			deleted = append(deleted, name)
			fmt.Fprintf(log, "deleted namespace %s in cluster %s (netctl created it)\n", name, c.Name)
		case apierrors.IsNotFound(err):
		default:
			errs = append(errs, fmt.Errorf("deleting namespace %s in cluster %s: %w", name, c.Name, err))
		}
	}
	return deleted, errors.Join(errs...)
}

// othersIn names a netctl workload in namespace ns that is not the check's
// (the monitor's), or returns "": deleting the namespace would delete it.
func othersIn(ctx context.Context, c *kube.Client, ns string) (string, error) {
	sel := metav1.ListOptions{LabelSelector: ManagedByLabel + "=" + ManagedByValue + "," + PartOfLabel + "!=" + PartOfValue}
	deps, err := c.Clientset.AppsV1().Deployments(ns).List(ctx, sel)
	if err != nil {
		return "", fmt.Errorf("listing netctl Deployments in namespace %s of cluster %s: %w", ns, c.Name, err)
	}
	if len(deps.Items) > 0 {
		d := deps.Items[0]
		return fmt.Sprintf("Deployment %s (%s)", d.Name, d.Labels[PartOfLabel]), nil
	}
	dss, err := c.Clientset.AppsV1().DaemonSets(ns).List(ctx, sel)
	if err != nil {
		return "", fmt.Errorf("listing netctl DaemonSets in namespace %s of cluster %s: %w", ns, c.Name, err)
	}
	if len(dss.Items) > 0 {
		d := dss.Items[0]
		return fmt.Sprintf("DaemonSet %s (%s)", d.Name, d.Labels[PartOfLabel]), nil
	}
	return "", nil
}
