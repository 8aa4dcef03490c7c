package controlplane

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/netdoctor/netdoctor/sandbox/internal/state"
)

// PodSecurityConfig is the AdmissionConfiguration of `up --pod-security
// LEVEL`: the built-in PodSecurity admission plugin (on by default in the API
// server) gets LEVEL as the cluster-wide default for enforce, audit and warn,
// as several distributions ship it, with only kube-system exempt. Namespaces
// may still set their own pod-security.kubernetes.io/* labels.
func PodSecurityConfig(level string) string {
	return fmt.Sprintf(`apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: PodSecurity
  configuration:
    apiVersion: pod-security.admission.config.k8s.io/v1
    kind: PodSecurityConfiguration
    defaults:
      enforce: %[1]q
      enforce-version: "latest"
      audit: %[1]q
      audit-version: "latest"
      warn: %[1]q
      warn-version: "latest"
    exemptions:
      usernames: []
      runtimeClasses: []
      namespaces: ["kube-system"]
`, level)
}

// PodSecurityFile is where the AdmissionConfiguration is written.
func (l Layout) PodSecurityFile() string { return filepath.Join(l.Dir, "admission-config.yaml") }

// WithPodSecurity writes the AdmissionConfiguration when the cluster has a
// --pod-security level and returns the API server flags with it added.
func WithPodSecurity(s *state.State, l Layout, args []string) ([]string, error) {
	if s.PodSecurity == "" {
		return args, nil
	}
	f := l.PodSecurityFile()
	if err := os.WriteFile(f, []byte(PodSecurityConfig(s.PodSecurity)), 0o600); err != nil {
		return nil, fmt.Errorf("writing admission configuration: %w", err)
	}
	return append(args, "--admission-control-config-file="+f), nil
}
