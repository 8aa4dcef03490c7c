package deploy

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/netdoctor/netdoctor/internal/kube"
)

// cleanKind is one kind of object a netctl workload may create, as Clean
// lists and deletes it.
type cleanKind struct {
	kind    string
	cluster bool // cluster-scoped
	// optional: a forbidden list or a kind the cluster lacks means none
	// (a user who may not list them cannot have had netctl create them).
	optional bool
	list     func(ctx context.Context, ns string, o metav1.ListOptions) ([]metav1.Object, error)
	del      func(ctx context.Context, ns, name string, o metav1.DeleteOptions) error
}

// cleanKinds is every kind the check (DaemonSets, Secrets,
// ServiceAccounts, NetworkPolicies, reach's Services) or the monitor (also
// its Deployment, RBAC, Prometheus Operator objects and its reach Ingress
// and HTTPRoute) creates, workloads first. The Prometheus Operator kinds
// and HTTPRoutes need c.Dynamic.
func cleanKinds(c *kube.Client) []cleanKind {
	cs := c.Clientset
	apps, core, rbac := cs.AppsV1(), cs.CoreV1(), cs.RbacV1()
	kinds := []cleanKind{
		namespacedKind[*appsv1.DaemonSetList]("DaemonSet", false, apps.DaemonSets),
		namespacedKind[*appsv1.DeploymentList]("Deployment", true, apps.Deployments),
		namespacedKind[*corev1.ServiceList]("Service", true, core.Services),
		namespacedKind[*corev1.SecretList]("Secret", false, core.Secrets),
		namespacedKind[*corev1.ServiceAccountList]("ServiceAccount", false, core.ServiceAccounts),
		namespacedKind[*networkingv1.NetworkPolicyList]("NetworkPolicy", true, cs.NetworkingV1().NetworkPolicies),
		namespacedKind[*networkingv1.IngressList]("Ingress", true, cs.NetworkingV1().Ingresses),
		namespacedKind[*rbacv1.RoleBindingList]("RoleBinding", true, rbac.RoleBindings),
		namespacedKind[*rbacv1.RoleList]("Role", true, rbac.Roles),
	}
	if c.Dynamic != nil {
		for _, gvr := range []schema.GroupVersionResource{
			{Group: "monitoring.coreos.com", Version: "v1", Resource: "servicemonitors"},
			{Group: "monitoring.coreos.com", Version: "v1", Resource: "prometheusrules"},
			{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "httproutes"}, // the monitor's reach gateway path
		} {
			ri := c.Dynamic.Resource(gvr)
			kinds = append(kinds, cleanKind{kind: gvr.Resource, optional: true,
				list: func(ctx context.Context, ns string, o metav1.ListOptions) ([]metav1.Object, error) {
					l, err := ri.Namespace(ns).List(ctx, o)
					if err != nil {
						return nil, err
					}
					return objectsOf(l)
				},
				del: func(ctx context.Context, ns, name string, o metav1.DeleteOptions) error {
					return ri.Namespace(ns).Delete(ctx, name, o)
				},
			})
		}
	}
	return append(kinds,
		clusterKind[*rbacv1.ClusterRoleBindingList]("ClusterRoleBinding", rbac.ClusterRoleBindings()),
		clusterKind[*rbacv1.ClusterRoleList]("ClusterRole", rbac.ClusterRoles()),
	)
}

// typedClient is what every typed client-go resource client offers.
type typedClient[L runtime.Object] interface {
	List(ctx context.Context, o metav1.ListOptions) (L, error)
	Delete(ctx context.Context, name string, o metav1.DeleteOptions) error
}

func namespacedKind[L runtime.Object, C typedClient[L]](kind string, optional bool, client func(ns string) C) cleanKind {
	return cleanKind{kind: kind, optional: optional,
		list: func(ctx context.Context, ns string, o metav1.ListOptions) ([]metav1.Object, error) {
			l, err := client(ns).List(ctx, o)
			if err != nil {
				return nil, err
			}
			return objectsOf(l)
		},
		del: func(ctx context.Context, ns, name string, o metav1.DeleteOptions) error {
			return client(ns).Delete(ctx, name, o)
		},
	}
}

func clusterKind[L runtime.Object, C typedClient[L]](kind string, client C) cleanKind {
	k := namespacedKind[L](kind, true, func(string) C { return client })
	k.cluster = true
	return k
}

func objectsOf(list runtime.Object) ([]metav1.Object, error) {
	items, err := meta.ExtractList(list)
	if err != nil {
		return nil, err
	}
	out := make([]metav1.Object, 0, len(items))
	for _, it := range items {
		o, err := meta.Accessor(it)
		if err != nil {
			return nil, fmt.Errorf("reading %T: %w", it, err)
		}
		out = append(out, o)
	}
	return out, nil
}
