package monitorcmd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/dynamic"

	"github.com/netdoctor/netdoctor/internal/cli/clierr"
	"github.com/netdoctor/netdoctor/internal/monitor/api"
	"github.com/netdoctor/netdoctor/internal/monitor/manifest"
)

type installOptions struct {
	objectFlags
	kube    kubeFlags
	wait    bool
	timeout time.Duration
	genericiooptions.IOStreams
}

func newInstallCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &installOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "install",
		Short: "Install (or update) the monitor: agent DaemonSets, server Deployment and Service",
		Long: "Create or update the monitor's objects with server-side apply: two agent\n" +
			"DaemonSets (pod and host network), the server Deployment and its Service, the\n" +
			"token Secret (random, kept on updates), a ServiceAccount and read-only RBAC\n" +
			"for the server (pods, nodes). Objects of the same name not created by netctl\n" +
			"are never overwritten. With --wait (default) it waits until every agent is ready.",
		Args: clierr.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return o.Run(contextOf(cmd)) },
	}
	o.objectFlags.add(cmd.Flags(), defaultVersion())
	o.kube.add(cmd.Flags())
	cmd.Flags().BoolVar(&o.wait, "wait", true, "wait until the agents and the server are ready")
	cmd.Flags().DurationVar(&o.timeout, "timeout", 3*time.Minute, "how long --wait waits")
	return cmd
}

// applied is one object apply handled, for rollback.
type applied struct {
	ri      dynamic.ResourceInterface
	name    string
	created bool
}

func (o *installOptions) Run(ctx context.Context) error {
	opts := o.options()
	autoIngress, autoGateway, err := takeReachAuto(&opts.Reach)
	if err = errors.Join(err, opts.Validate()); err != nil {
		return usage(err, "install")
	}
	c, err := o.kube.connect(ctx)
	if err != nil {
		return err
	}
	notes, err := resolveReachPaths(ctx, c, &opts.Reach, autoIngress, autoGateway)
	if err != nil {
		return err
	}
	for _, n := range notes {
		fmt.Fprintln(o.ErrOut, n)
	}
	_, err = c.cs.CoreV1().Namespaces().Get(ctx, opts.Namespace, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		opts.IncludeNamespace = true
	case err != nil:
		return fmt.Errorf("reading namespace %s: %w", opts.Namespace, err)
	}
	secret, err := c.cs.CoreV1().Secrets(opts.Namespace).Get(ctx, manifest.TokenSecret, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		if opts.Token, err = randomToken(); err != nil {
			return err
		}
	case err != nil:
		return fmt.Errorf("reading secret %s/%s: %w", opts.Namespace, manifest.TokenSecret, err)
	case secret.Labels[api.LabelManagedBy] != api.ManagedBy:
		return clierr.Usagef("secret %s/%s exists and was not created by netctl; delete it or install into another --namespace",
			opts.Namespace, manifest.TokenSecret)
	default:
		// Keep the existing token: running agents keep authenticating.
	}
	objs, err := allObjects(opts, o.promOperator)
	if err != nil {
		return err
	}

	// Preflight every object before touching anything: nothing half-created.
	type target struct {
		u  *unstructured.Unstructured
		ri dynamic.ResourceInterface
	}
	var targets []target
	var problems []error
	for _, obj := range objs {
		u, err := toUnstructured(obj)
		if err != nil {
			return err
		}
		gvk := u.GroupVersionKind()
		m, err := c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			if meta.IsNoMatchError(err) && gvk.Group == "monitoring.coreos.com" {
				return clierr.Usagef("--prometheus-operator: the cluster has no %s (install the Prometheus Operator CRDs or drop the flag)", gvk.Kind)
			}
			return fmt.Errorf("finding the API of %s: %w", gvk.Kind, err)
		}
		var ri dynamic.ResourceInterface = c.dynamic.Resource(m.Resource)
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			ri = c.dynamic.Resource(m.Resource).Namespace(u.GetNamespace())
		}
		existing, err := ri.Get(ctx, u.GetName(), metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return fmt.Errorf("reading %s %s: %w", gvk.Kind, u.GetName(), err)
		case existing.GetLabels()[api.LabelManagedBy] != api.ManagedBy:
			problems = append(problems, fmt.Errorf("%s %s exists and was not created by netctl", gvk.Kind, u.GetName()))
		}
		targets = append(targets, target{u, ri})
	}
	if len(problems) > 0 {
		return clierr.UsageError(clierr.Problems("refusing to overwrite objects netctl does not own (delete them or use another --namespace)", errors.Join(problems...)))
	}

	var done []applied
	for _, t := range targets {
		_, getErr := t.ri.Get(ctx, t.u.GetName(), metav1.GetOptions{})
		data, err := json.Marshal(t.u.Object)
		if err != nil {
			return err
		}
		_, err = t.ri.Patch(ctx, t.u.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{FieldManager: "netctl", Force: ptr(true)})
		if err != nil {
			o.rollback(done)
			return fmt.Errorf("applying %s %s: %w", t.u.GetKind(), t.u.GetName(), err)
		}
		created := apierrors.IsNotFound(getErr)
		done = append(done, applied{t.ri, t.u.GetName(), created})
		verb := "configured"
		if created {
			verb = "created"
		}
		fmt.Fprintf(o.Out, "%s/%s %s\n", kindLower(t.u.GetKind()), t.u.GetName(), verb)
	}
	if !o.wait {
		return nil
	}
	fmt.Fprintf(o.ErrOut, "waiting up to %s for the agents and the server to be ready...\n", o.timeout)
	if err := waitReady(ctx, c, opts.Namespace, o.timeout, o.ErrOut); err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "monitor ready in namespace %s; see `netctl monitor status -n %s`\n", opts.Namespace, opts.Namespace)
	return nil
}

// rollback deletes what this run created (never what existed before), in
// reverse order, after a failed apply.
func (o *installOptions) rollback(done []applied) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := len(done) - 1; i >= 0; i-- {
		if !done[i].created {
			continue
		}
		if err := done[i].ri.Delete(ctx, done[i].name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			fmt.Fprintf(o.ErrOut, "rollback: deleting %s: %v\n", done[i].name, err)
		}
	}
}

// waitReady polls until both DaemonSets have every scheduled pod ready and
// the server is available.
func waitReady(ctx context.Context, c *clients, ns string, timeout time.Duration, log io.Writer) error {
	var last string
	err := wait.PollUntilContextTimeout(ctx, 2*time.Second, timeout, true, func(ctx context.Context) (bool, error) {
		st, err := workloadStatus(ctx, c, ns)
		if err != nil {
			return false, nil // transient: keep polling
		}
		last = st.String()
		return st.ready(), nil
	})
	if err != nil {
		return fmt.Errorf("monitor not ready after %s: %s", timeout, last)
	}
	return nil
}

func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generating the token: %w", err)
	}
	return hex.EncodeToString(b), nil
}

func ptr[T any](v T) *T { return &v }

func kindLower(k string) string {
	b := []byte(k)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
