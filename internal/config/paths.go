package config

import (
	"os"
	"path/filepath"
	"strings"
)

// ExpandPath expands a leading "~" and "$HOME"/"${HOME}" the way a shell
// would, because users copy paths from their shell into config.json (the
// earlier tool did not, and "~/.kube/config" failed).
func ExpandPath(p string) string {
	if p == "" {
		return p
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return p
	}
	switch {
	case p == "~":
		return home
	case strings.HasPrefix(p, "~/"):
		return filepath.Join(home, p[2:])
	}
	p = strings.ReplaceAll(p, "${HOME}", home)
	return strings.ReplaceAll(p, "$HOME", home)
}

// defaultKubeconfig finds the kubeconfig kubectl would use when none is
// given: a single-file $KUBECONFIG, else ~/.kube/config when it exists.
// It returns "" for a $KUBECONFIG path list (client-go's default loading
// rules merge the list, as kubectl does) and when nothing is found (the
// in-cluster config).
func defaultKubeconfig() string {
	if env := os.Getenv("KUBECONFIG"); env != "" {
		if list := filepath.SplitList(env); len(list) == 1 {
			return ExpandPath(list[0])
		}
		return ""
	}
	if home, err := os.UserHomeDir(); err == nil {
		p := filepath.Join(home, ".kube", "config")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// InCluster reports whether the process runs in a pod with a service
// account, the condition client-go's rest.InClusterConfig needs.
func InCluster() bool {
	if os.Getenv("KUBERNETES_SERVICE_HOST") == "" || os.Getenv("KUBERNETES_SERVICE_PORT") == "" {
		return false
	}
	_, err := os.Stat("/var/run/secrets/kubernetes.io/serviceaccount/token")
	return err == nil
}
