package ingress

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/netdoctor/netdoctor/sandbox/internal/controlplane"
)

// faultTimeout bounds how long Stop and Start wait for the pods.
const faultTimeout = 2 * time.Minute

// Stop scales Traefik's Deployment to zero, as an operator (or a bad
// rollout) taking the ingress controller away, and returns once no Traefik
// pod is left: the Service then has no endpoints and every Ingress and
// HTTPRoute is unreachable while the backends' own Services still work.
// It returns the replica count to restore.
func Stop(ctx context.Context, kubeconfig string) (int32, error) {
	ctx, cancel := context.WithTimeout(ctx, faultTimeout)
	defer cancel()
	c, err := newClients(kubeconfig)
	if err != nil {
		return 0, err
	}
	deps := c.kube.AppsV1().Deployments(Namespace)
	sc, err := deps.GetScale(ctx, Name, metav1.GetOptions{})
	if err != nil {
		return 0, fmt.Errorf("traefik's Deployment %s/%s: %w (was the cluster started with --ingress?)", Namespace, Name, err)
	}
	old := sc.Spec.Replicas
	if old == 0 {
		return 0, fmt.Errorf("traefik's Deployment %s/%s is already scaled to 0", Namespace, Name)
	}
	sc.Spec.Replicas = 0
	if _, err := deps.UpdateScale(ctx, Name, sc, metav1.UpdateOptions{}); err != nil {
		return 0, fmt.Errorf("scaling %s/%s to 0: %w", Namespace, Name, err)
	}
	// From here on the caller must scale back, also on error.
	err = controlplane.WaitFor(ctx, "traefik's pods to go", 200*time.Millisecond, func(ctx context.Context) error {
		pods, err := c.kube.CoreV1().Pods(Namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return err
		}
		if n := len(pods.Items); n > 0 {
			return fmt.Errorf("%d traefik pods left", n)
		}
		return nil
	})
	return old, err
}

// Start scales Traefik's Deployment back to replicas and returns once they
// are available (ready: /ping answers; Traefik loads its routes from the
// API server within a second or two after that).
func Start(ctx context.Context, kubeconfig string, replicas int32) error {
	ctx, cancel := context.WithTimeout(ctx, faultTimeout)
	defer cancel()
	c, err := newClients(kubeconfig)
	if err != nil {
		return err
	}
	deps := c.kube.AppsV1().Deployments(Namespace)
	sc, err := deps.GetScale(ctx, Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("traefik's Deployment %s/%s: %w", Namespace, Name, err)
	}
	sc.Spec.Replicas = replicas
	if _, err := deps.UpdateScale(ctx, Name, sc, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("scaling %s/%s to %d: %w", Namespace, Name, replicas, err)
	}
	return controlplane.WaitFor(ctx, "traefik available again", 300*time.Millisecond, func(ctx context.Context) error {
		return deploymentAvailable(ctx, c.kube)
	})
}
