package monitorcmd

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/netdoctor/netdoctor/internal/cli/clierr"
)

// kubeFlags: --kubeconfig and --context, resolved like kubectl ($KUBECONFIG,
// ~/.kube/config, in-cluster config).
type kubeFlags struct {
	cf *genericclioptions.ConfigFlags
}

func (k *kubeFlags) add(fs *pflag.FlagSet) {
	k.cf = genericclioptions.NewConfigFlags(true)
	fs.StringVar(k.cf.KubeConfig, "kubeconfig", "", "kubeconfig file (default like kubectl: $KUBECONFIG, ~/.kube/config, in-cluster)")
	fs.StringVar(k.cf.Context, "context", "", "kubeconfig context (default: the current context)")
}

type clients struct {
	cs      kubernetes.Interface
	dynamic dynamic.Interface
	mapper  meta.RESTMapper
}

// connect builds clients and proves the API server answers: a bad
// kubeconfig is a usage error (exit 2), an unreachable server exit 1.
func (k *kubeFlags) connect(ctx context.Context) (*clients, error) {
	rc, err := k.cf.ToRESTConfig()
	if err != nil {
		return nil, clierr.Usagef("loading kubeconfig: %w; check --kubeconfig, --context or $KUBECONFIG", err)
	}
	rc.UserAgent = "netctl-monitor"
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, clierr.Usagef("building Kubernetes client: %w", err)
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return nil, clierr.Usagef("building Kubernetes client: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := cs.Discovery().RESTClient().Get().AbsPath("/version").Do(pctx).Raw(); err != nil {
		return nil, fmt.Errorf("reaching the API server at %s: %w", rc.Host, err)
	}
	mapper, err := k.cf.ToRESTMapper()
	if err != nil {
		return nil, fmt.Errorf("discovering API resources: %w", err)
	}
	return &clients{cs: cs, dynamic: dyn, mapper: mapper}, nil
}
