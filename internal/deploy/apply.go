package deploy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	authzv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/netdoctor/netdoctor/internal/kube"
)

// Plan is what to deploy in one cluster.
type Plan struct {
	Namespace string
	Image     string
	Port      int
	// Networks lists the agent DaemonSets the check needs.
	Networks []Network
}

// Applied is the outcome of Apply.
type Applied struct {
	// Token is the probe-API token in effect: an existing Secret's token is
	// kept so agents already running keep accepting requests.
	Token string
	// CreatedNamespace is true when this Apply created the namespace.
	CreatedNamespace bool
}

// access is one permission the run needs.
type access struct {
	verb, group, resource, subresource string
	namespaced                         bool
}

func (a access) String() string {
	r := a.resource
	if a.group != "" {
		r += "." + a.group
	}
	if a.subresource != "" {
		r = a.resource + "/" + a.subresource
	}
	return a.verb + " " + r
}

// needs are the permissions a check uses, in the order they are used.
// Namespace create is checked only when the namespace is missing.
var needs = []access{
	{verb: "get", resource: "namespaces"},
	{verb: "get", resource: "serviceaccounts", namespaced: true},
	{verb: "create", resource: "serviceaccounts", namespaced: true},
	{verb: "update", resource: "serviceaccounts", namespaced: true},
	{verb: "get", resource: "secrets", namespaced: true},
	{verb: "create", resource: "secrets", namespaced: true},
	{verb: "get", group: "apps", resource: "daemonsets", namespaced: true},
	{verb: "create", group: "apps", resource: "daemonsets", namespaced: true},
	{verb: "update", group: "apps", resource: "daemonsets", namespaced: true},
	{verb: "delete", group: "apps", resource: "daemonsets", namespaced: true},
	{verb: "list", resource: "pods", namespaced: true},
	{verb: "create", resource: "pods", subresource: "proxy", namespaced: true},
	{verb: "get", resource: "pods", subresource: "proxy", namespaced: true},
}

// Preflight asks the API server (SelfSubjectAccessReview) whether the
// current user may do everything a check does in namespace, and returns
// one error listing every missing permission. It creates nothing.
func Preflight(ctx context.Context, c *kube.Client, namespace string) error {
	checks := append([]access(nil), needs...)
	_, err := c.Clientset.CoreV1().Namespaces().Get(ctx, namespace, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		checks = append(checks, access{verb: "create", resource: "namespaces"})
	case err != nil && !apierrors.IsForbidden(err):
		return fmt.Errorf("reading namespace %s in cluster %s: %w", namespace, c.Name, err)
	}
	var denied []access
	for _, a := range checks {
		ok, err := allowed(ctx, c, namespace, a)
		if err != nil {
			return fmt.Errorf("checking permission to %s in cluster %s: %w", a, c.Name, err)
		}
		if !ok {
			denied = append(denied, a)
		}
	}
	if len(denied) == 0 {
		return nil
	}
	who := c.WhoAmI(ctx)
	var lines []string
	for _, a := range denied {
		where := fmt.Sprintf("in namespace %q", namespace)
		if !a.namespaced {
			where = "(cluster-wide)"
		}
		lines = append(lines, fmt.Sprintf("%s cannot %s %s", who, a, where))
	}
	return fmt.Errorf("missing permissions in cluster %s (nothing was created):\n  %s\nask a cluster admin to grant them, or use a kubeconfig/context that has them",
		c.Name, strings.Join(lines, "\n  "))
}

func allowed(ctx context.Context, c *kube.Client, namespace string, a access) (bool, error) {
	attrs := &authzv1.ResourceAttributes{Verb: a.verb, Group: a.group, Resource: a.resource, Subresource: a.subresource}
	if a.namespaced {
		attrs.Namespace = namespace
	} else if a.resource == "namespaces" {
		attrs.Name = namespace
	}
	r, err := c.Clientset.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx,
		&authzv1.SelfSubjectAccessReview{Spec: authzv1.SelfSubjectAccessReviewSpec{ResourceAttributes: attrs}}, metav1.CreateOptions{})
	if err != nil {
		return false, err
	}
	return r.Status.Allowed, nil
}

// Apply creates or updates the namespace (only if missing), ServiceAccount,
// token Secret and the planned DaemonSets. When a step fails, what this
// call created is deleted again so nothing is left half-made. Call
// Preflight first.
func Apply(ctx context.Context, c *kube.Client, p Plan, log io.Writer) (*Applied, error) {
	if log == nil {
		log = io.Discard
	}
	var undo []func(context.Context) error
	res, err := apply(ctx, c, p, log, &undo)
	if err == nil {
		return res, nil
	}
	// Roll back with a fresh context: ctx may be the reason we failed.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
	defer cancel()
	var rerrs []error
	for i := len(undo) - 1; i >= 0; i-- {
		if uerr := undo[i](rctx); uerr != nil && !apierrors.IsNotFound(uerr) {
			rerrs = append(rerrs, uerr)
		}
	}
	if len(rerrs) > 0 {
		return nil, fmt.Errorf("%w (rolling back also failed: %v; run `netctl clean`)", err, errors.Join(rerrs...))
	}
	return nil, err
}

func apply(ctx context.Context, c *kube.Client, p Plan, log io.Writer, undo *[]func(context.Context) error) (*Applied, error) {
	core := c.Clientset.CoreV1()
	apps := c.Clientset.AppsV1()
	res := &Applied{}
	bg := metav1.DeletePropagationBackground
	del := metav1.DeleteOptions{PropagationPolicy: &bg}

	// Namespace: only when missing, and marked so clean may delete it.
	_, err := core.Namespaces().Get(ctx, p.Namespace, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		if _, err := core.Namespaces().Create(ctx, Namespace(p.Namespace), metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("creating namespace %s in cluster %s: %w", p.Namespace, c.Name, err)
		} else if err == nil {
			res.CreatedNamespace = true
			fmt.Fprintf(log, "created namespace %s in cluster %s\n", p.Namespace, c.Name)
			*undo = append(*undo, func(ctx context.Context) error {
				return core.Namespaces().Delete(ctx, p.Namespace, del)
			})
		}
	case err != nil:
		return nil, fmt.Errorf("reading namespace %s in cluster %s: %w", p.Namespace, c.Name, err)
	}

	// ServiceAccount.
	sa := ServiceAccount(p.Namespace)
	created, err := createOrUpdate(ctx,
		func() error {
			_, err := core.ServiceAccounts(p.Namespace).Create(ctx, sa, metav1.CreateOptions{})
			return err
		},
		func() error {
			cur, err := core.ServiceAccounts(p.Namespace).Get(ctx, sa.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			cur.Labels = mergeLabels(cur.Labels, sa.Labels)
			cur.AutomountServiceAccountToken = sa.AutomountServiceAccountToken
			_, err = core.ServiceAccounts(p.Namespace).Update(ctx, cur, metav1.UpdateOptions{})
			return err
		})
	if err != nil {
		return nil, fmt.Errorf("applying ServiceAccount %s/%s in cluster %s: %w", p.Namespace, sa.Name, c.Name, err)
	}
	if created {
		*undo = append(*undo, func(ctx context.Context) error {
			return core.ServiceAccounts(p.Namespace).Delete(ctx, sa.Name, del)
		})
	}

	// Secret: keep an existing token, so agents that already run (and
	// read their token file at start) still accept our requests.
	cur, err := core.Secrets(p.Namespace).Get(ctx, TokenSecretName, metav1.GetOptions{})
	switch {
	case err == nil && len(cur.Data[TokenKey]) > 0:
		res.Token = string(cur.Data[TokenKey])
	case err == nil || apierrors.IsNotFound(err):
		tok, terr := newToken()
		if terr != nil {
			return nil, terr
		}
		res.Token = tok
		if err == nil { // exists without a token: fill it in
			cur.Data = TokenSecret(p.Namespace, tok).Data
			cur.Labels = mergeLabels(cur.Labels, managedLabels())
			if _, err := core.Secrets(p.Namespace).Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
				return nil, fmt.Errorf("updating Secret %s/%s in cluster %s: %w", p.Namespace, TokenSecretName, c.Name, err)
			}
			break
		}
		if _, err := core.Secrets(p.Namespace).Create(ctx, TokenSecret(p.Namespace, tok), metav1.CreateOptions{}); err != nil {
			return nil, fmt.Errorf("creating Secret %s/%s in cluster %s: %w", p.Namespace, TokenSecretName, c.Name, err)
		}
		*undo = append(*undo, func(ctx context.Context) error {
			return core.Secrets(p.Namespace).Delete(ctx, TokenSecretName, del)
		})
	default:
		return nil, fmt.Errorf("reading Secret %s/%s in cluster %s: %w", p.Namespace, TokenSecretName, c.Name, err)
	}

	// DaemonSets.
	for _, n := range p.Networks {
		ds := AgentDaemonSet(AgentSpec{Namespace: p.Namespace, Image: p.Image, Port: p.Port, Network: n})
		created, err := createOrUpdate(ctx,
			func() error {
				_, err := apps.DaemonSets(p.Namespace).Create(ctx, ds, metav1.CreateOptions{})
				return err
			},
			func() error {
				cur, err := apps.DaemonSets(p.Namespace).Get(ctx, ds.Name, metav1.GetOptions{})
				if err != nil {
					return err
				}
				cur.Labels = mergeLabels(cur.Labels, ds.Labels)
				cur.Spec = ds.Spec
				_, err = apps.DaemonSets(p.Namespace).Update(ctx, cur, metav1.UpdateOptions{})
				return err
			})
		if err != nil {
			return nil, fmt.Errorf("applying DaemonSet %s/%s in cluster %s: %w", p.Namespace, ds.Name, c.Name, err)
		}
		verb := "updated"
		if created {
			verb = "created"
			*undo = append(*undo, func(ctx context.Context) error {
				return apps.DaemonSets(p.Namespace).Delete(ctx, ds.Name, del)
			})
		}
		fmt.Fprintf(log, "%s DaemonSet %s/%s in cluster %s (image %s)\n", verb, p.Namespace, ds.Name, c.Name, p.Image)
	}
	return res, nil
}

// createOrUpdate runs create; when the object exists it runs update,
// retrying on write conflicts. It reports whether create made the object.
func createOrUpdate(ctx context.Context, create, update func() error) (bool, error) {
	err := create()
	if err == nil {
		return true, nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return false, err
	}
	return false, retry.RetryOnConflict(retry.DefaultRetry, update)
}

func mergeLabels(cur, add map[string]string) map[string]string {
	if cur == nil {
		cur = map[string]string{}
	}
	for k, v := range add {
		cur[k] = v
	}
	return cur
}

func newToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generating agent token: %w", err)
	}
	return hex.EncodeToString(b), nil
}
