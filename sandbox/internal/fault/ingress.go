package fault

import (
	"context"
	"fmt"
	"strconv"

	"github.com/netdoctor/netdoctor/sandbox/internal/ingress"
	"github.com/netdoctor/netdoctor/sandbox/internal/state"
)

// ingressDown takes the cluster's Ingress controller and Gateway (Traefik,
// up --ingress) away by scaling its Deployment to zero, as an operator or a
// broken rollout would: every Ingress and HTTPRoute stops answering while
// the backends' Services keep working. The change records the replica
// count; remove scales back to it.
func (a *applier) ingressDown(ctx context.Context) error {
	if a.st.Ingress == "" {
		return bad("fault ingress-down: cluster %q has no Ingress controller (start it with `up --ingress`)", a.st.Name)
	}
	old, err := ingress.Stop(ctx, a.st.Kubeconfig)
	if old > 0 {
		// Recorded even when waiting for the pods failed: the failed add
		// then scales back.
		a.f.Changes = append(a.f.Changes, state.Change{Type: "scaled-down",
			Key: ingress.Namespace + "/" + ingress.Name, Value: strconv.Itoa(int(old))})
	}
	return err
}

// ingressUp undoes ingressDown: the Deployment gets its replicas back and
// remove returns once they are available.
func ingressUp(ctx context.Context, st *state.State, c state.Change) error {
	n, err := strconv.Atoi(c.Value)
	if err != nil || n < 1 {
		return fmt.Errorf("fault ingress-down: bad recorded replica count %q", c.Value)
	}
	return ingress.Start(ctx, st.Kubeconfig, int32(n))
}
