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
// app.kubernetes.io/managed-by=netctl, and namespaces that carry netctl's
// created-by annotation. Objects without the label are never touched; a
// namespace the user had before is never deleted. Finding nothing is not
// an error.
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
	n, err := cleanNamespaces(ctx, c, scope, log)
	deleted += n
	if err != nil {
		errs = append(errs, err)
	}
	if deleted == 0 && len(errs) == 0 {
		fmt.Fprintf(log, "nothing to clean in cluster %s\n", c.Name)
	}
	return errors.Join(errs...)
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
	return n, errors.Join(errs...)
}

// cleanNamespaces deletes namespaces netctl created: they carry both the
// managed-by label and the created-by annotation.
func cleanNamespaces(ctx context.Context, c *kube.Client, scope CleanScope, log io.Writer) (int, error) {
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
			return 0, fmt.Errorf("listing namespaces in cluster %s: %w", c.Name, err)
		}
	}
	if !scope.AllNamespaces {
		ns, err := c.Clientset.CoreV1().Namespaces().Get(ctx, scope.Namespace, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			return 0, nil
		case err != nil:
			return 0, fmt.Errorf("reading namespace %s in cluster %s: %w", scope.Namespace, c.Name, err)
		}
		if ns.Annotations[CreatedByAnnotation] == "true" && ns.Labels[ManagedByLabel] == ManagedByValue {
			names = append(names, ns.Name)
		} else {
			fmt.Fprintf(log, "kept namespace %s in cluster %s: netctl did not create it\n", ns.Name, c.Name)
		}
	}
	var errs []error
	n := 0
	for _, name := range names {
		err := c.Clientset.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{})
		switch {
		case err == nil:
			n++
			fmt.Fprintf(log, "deleted namespace %s in cluster %s (netctl created it)\n", name, c.Name)
		case apierrors.IsNotFound(err):
		default:
			errs = append(errs, fmt.Errorf("deleting namespace %s in cluster %s: %w", name, c.Name, err))
		}
	}
	return n, errors.Join(errs...)
}
