package controlplane

import (
	"encoding/json"
	"testing"

	"k8s.io/pod-security-admission/admission/api/load"
	"sigs.k8s.io/yaml"
)

// TestPodSecurityConfig decodes the AdmissionConfiguration as the API server
// does: the plugin entry, then its PodSecurityConfiguration through the
// PodSecurity admission's own loader (which validates it).
func TestPodSecurityConfig(t *testing.T) {
	for _, level := range []string{"privileged", "baseline", "restricted"} {
		var ac struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Plugins    []struct {
				Name          string          `json:"name"`
				Configuration json.RawMessage `json:"configuration"`
			} `json:"plugins"`
		}
		if err := yaml.UnmarshalStrict([]byte(PodSecurityConfig(level)), &ac); err != nil {
			t.Fatal(err)
		}
		if ac.APIVersion != "apiserver.config.k8s.io/v1" || ac.Kind != "AdmissionConfiguration" || len(ac.Plugins) != 1 || ac.Plugins[0].Name != "PodSecurity" {
			t.Fatalf("%s: %+v", level, ac)
		}
		cfg, err := load.LoadFromData(ac.Plugins[0].Configuration)
		if err != nil {
			t.Fatalf("%s: PodSecurity rejects the configuration: %v", level, err)
		}
		d := cfg.Defaults
		if d.Enforce != level || d.Audit != level || d.Warn != level || d.EnforceVersion != "latest" {
			t.Errorf("%s: defaults %+v", level, d)
		}
		if len(cfg.Exemptions.Namespaces) != 1 || cfg.Exemptions.Namespaces[0] != "kube-system" ||
			len(cfg.Exemptions.Usernames) != 0 || len(cfg.Exemptions.RuntimeClasses) != 0 {
			t.Errorf("%s: exemptions %+v, want only namespace kube-system", level, cfg.Exemptions)
		}
	}
}
