package cluster

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/netdoctor/netdoctor/sandbox/internal/ingress"
)

// validateIngress checks --ingress and --traefik-binary (after the other
// options: exit 2 and nothing created when the binary or CRDs are missing).
func (o *UpOptions) validateIngress() error {
	if o.Traefik != "" && !o.Ingress {
		return fmt.Errorf("%w: --traefik-binary needs --ingress", ErrBadInput)
	}
	if !o.Ingress {
		return nil
	}
	if o.Traefik == "" {
		o.Traefik = ingress.Binary(o.Self)
	}
	o.Traefik, _ = filepath.Abs(o.Traefik)
	if err := ingress.Check(o.Traefik); err != nil {
		return fmt.Errorf("%w: --ingress: %w", ErrBadInput, err)
	}
	return nil
}

// startIngress installs Traefik (--ingress) in the background once the
// registry is up; the channel yields nil once it serves. nil without
// --ingress.
func (u *upper) startIngress(ctx context.Context) chan error {
	if !u.o.Ingress {
		return nil
	}
	u.s.Ingress = ingress.Component
	u.save()
	// With --load-balancer Traefik is exposed as real clusters expose it:
	// a Service of type LoadBalancer, its address published in the
	// Ingress and Gateway status.
	o := ingress.Options{Binary: u.o.Traefik, Registry: u.s.Registry, LoadBalancer: u.o.LoadBalancer}
	done := make(chan error, 1)
	go func() {
		if err := ingress.Install(ctx, u.s.Kubeconfig, o, u.logf); err != nil {
			done <- fmt.Errorf("--ingress: %w", err)
			return
		}
		u.logf("traefik objects created (namespace %s, IngressClass and GatewayClass %s)", ingress.Namespace, ingress.ClassName)
		if err := ingress.Wait(ctx, u.s.Kubeconfig, o.LoadBalancer); err != nil {
			done <- fmt.Errorf("--ingress: %w", err)
			return
		}
		done <- nil
	}()
	return done
}
