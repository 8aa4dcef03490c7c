package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
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
	// PartOf is whose objects are deleted (the part-of label): "" or
	// PartOfValue the check's (and diagnose's, reach's), MonitorPartOf the
	// monitor's. The other's objects are never touched.
	PartOf string
}

// MonitorPartOf is the part-of label of the monitor's objects.
const MonitorPartOf = "netdoctor-monitor"

func (s CleanScope) partOf() string {
	if s.PartOf == "" {
		return PartOfValue
	}
	return s.PartOf
}

// selector selects every object of the scope's workload.
func (s CleanScope) selector() string {
	return ManagedByLabel + "=" + ManagedByValue + "," + PartOfLabel + "=" + s.partOf()
}

// Clean deletes the objects (cleanKinds) and agent pods labelled
// app.kubernetes.io/managed-by=netctl and app.kubernetes.io/part-of=
// <scope.PartOf>, and namespaces that carry those labels and netctl's
// created-by annotation. Objects without the labels (the user's, the other
// workload's) are never touched; a namespace the user had before, or one
// the other workload also runs in, is never deleted. Finding nothing is
// not an error. `netctl clean` and `netctl monitor uninstall` both use it.
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
		n, err := cleanObjects(ctx, c, scope, ns, log)
		if ns == metav1.NamespaceAll && apierrors.IsForbidden(err) {
			fmt.Fprintf(log, "cannot list across namespaces in cluster %s (forbidden); cleaning namespace %s only\n", c.Name, scope.Namespace)
			n, err = cleanObjects(ctx, c, scope, scope.Namespace, log)
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
	if err := waitGone(ctx, c, scope.selector(), namespaces, gone, log); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// cleanWait bounds waiting for deleted agents and namespaces to disappear.
const cleanWait = 2 * time.Minute

// waitGone waits until no netctl-labelled pod is left in the cleaned
// namespaces and the deleted namespaces are gone, so that a check started
// right after a clean never meets a namespace that is still terminating.
func waitGone(ctx context.Context, c *kube.Client, selector string, namespaces, deletedNS []string, log io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, cleanWait)
	defer cancel()
	start := time.Now()
	for {
		left := 0
		for _, ns := range namespaces {
			pods, err := c.Clientset.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
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
			return fmt.Errorf("cluster %s: %d netctl pods or namespaces still terminating after %s; run it again later",
				c.Name, left, time.Since(start).Round(time.Second))
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func cleanObjects(ctx context.Context, c *kube.Client, scope CleanScope, ns string, log io.Writer) (int, error) {
	sel := metav1.ListOptions{LabelSelector: scope.selector()}
	bg := metav1.DeletePropagationBackground
	del := metav1.DeleteOptions{PropagationPolicy: &bg}
	type obj struct {
		kind cleanKind
		ns   string
		name string
	}
	var objs []obj
	for _, k := range cleanKinds(c) {
		if k.cluster && ns != metav1.NamespaceAll && ns != scope.Namespace {
			continue
		}
		items, err := k.list(ctx, ns, sel)
		switch {
		case err == nil:
		case k.optional && (apierrors.IsForbidden(err) || apierrors.IsNotFound(err) || meta.IsNoMatchError(err)):
			// A user who may not list these cannot have had netctl create
			// them; a kind the cluster lacks has none.
			continue
		default:
			return 0, fmt.Errorf("listing netctl %ss in cluster %s: %w", k.kind, c.Name, err)
		}
		for _, o := range items {
			// Cluster-scoped objects carry their namespace as a name
			// suffix (the monitor's RBAC): another namespace's stay.
			if k.cluster && ns != metav1.NamespaceAll && !strings.HasSuffix(o.GetName(), "-"+scope.Namespace) {
				continue
			}
			objs = append(objs, obj{k, o.GetNamespace(), o.GetName()})
		}
	}

	var errs []error
	n := 0
	for _, o := range objs {
		err := o.kind.del(ctx, o.ns, o.name, del)
		where := o.name
		if o.ns != "" {
			where = o.ns + "/" + o.name
		}
		switch {
		case err == nil:
			n++
			fmt.Fprintf(log, "deleted %s %s in cluster %s\n", o.kind.kind, where, c.Name)
		case apierrors.IsNotFound(err):
		default:
			errs = append(errs, fmt.Errorf("deleting %s %s in cluster %s: %w", o.kind.kind, where, c.Name, err))
		}
	}
	// Delete the agent pods too rather than wait for the garbage collector
	// to follow the DaemonSets: the clean is done sooner, and the wait
	// below does not depend on a controller.
	core := c.Clientset.CoreV1()
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
		list, err := c.Clientset.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: scope.selector()})
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
		if ns.Annotations[CreatedByAnnotation] == "true" && ns.Labels[ManagedByLabel] == ManagedByValue && ns.Labels[PartOfLabel] == scope.partOf() {
			names = append(names, ns.Name)
		} else {
			fmt.Fprintf(log, "kept namespace %s in cluster %s: netctl did not create it\n", ns.Name, c.Name)
		}
	}
	var errs []error
	var deleted []string
	for _, name := range names {
		if other, err := othersIn(ctx, c, scope, name); err != nil || other != "" {
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

// othersIn names a netctl workload in namespace ns that is not the scope's
// (the monitor's for a clean, the check's for an uninstall), or returns "":
// deleting the namespace would delete it.
func othersIn(ctx context.Context, c *kube.Client, scope CleanScope, ns string) (string, error) {
	sel := metav1.ListOptions{LabelSelector: ManagedByLabel + "=" + ManagedByValue + "," + PartOfLabel + "!=" + scope.partOf()}
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
