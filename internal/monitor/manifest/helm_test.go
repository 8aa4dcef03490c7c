package manifest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/yaml"
)

// helmBinary finds helm on PATH or in GOPATH/bin (where `go install` puts it).
func helmBinary(t *testing.T) string {
	if p, err := exec.LookPath("helm"); err == nil {
		return p
	}
	home, _ := os.UserHomeDir()
	for _, p := range []string{os.Getenv("GOPATH"), filepath.Join(home, "go")} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(filepath.Join(p, "bin", "helm")); err == nil {
			return filepath.Join(p, "bin", "helm")
		}
	}
	t.Skip("helm not found (go install helm.sh/helm/v3/cmd/helm@v3.17.3); deploy/check.sh requires it")
	return ""
}

func decodeAll(t *testing.T, data []byte) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			break
		}
		if m == nil {
			continue
		}
		md, _ := m["metadata"].(map[string]any)
		out[m["kind"].(string)+"/"+md["name"].(string)] = m
	}
	return out
}

// TestHelmChartMatchesBuilder renders the chart with the builder's
// defaults and compares what matters (the pod specs' commands, env, ports,
// selectors, RBAC rules, the rules of the PrometheusRule) object by object.
func TestHelmChartMatchesBuilder(t *testing.T) {
	compareChart(t, Defaults())
}

// With reach rounds on, the chart adds the same reach Service and flags.
func TestHelmChartMatchesBuilderWithReach(t *testing.T) {
	o := Defaults()
	o.Reach.Schedule = "0 5"
	compareChart(t, o, "--set", "reach.schedule=0 5")
}

// With the loadbalancer, ingress and gateway paths, the chart adds the same
// objects, server flags and RBAC.
func TestHelmChartMatchesBuilderWithReachVIPs(t *testing.T) {
	o := Defaults()
	o.Reach.Schedule, o.Reach.LoadBalancer, o.Reach.IngressClass, o.Reach.Gateway = "0 5", true, "traefik", "gw-ns/main"
	compareChart(t, o, "--set", "reach.schedule=0 5,reach.loadBalancer=true,reach.ingressClass=traefik,reach.gateway=gw-ns/main")
}

func compareChart(t *testing.T, o Options, extra ...string) {
	helm := helmBinary(t)
	args := append([]string{"template", "netdoctor-monitor", filepath.Join(deployDir, "helm/netdoctor-monitor"),
		"--namespace", DefaultNamespace, "--set", "serviceMonitor.enabled=true,prometheusRule.enabled=true,server.nodePort.enabled=true,token=x"}, extra...)
	out, err := exec.Command(helm, args...).Output()
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	chart := decodeAll(t, out)

	o.NodePort = DefaultNodePort
	o.Token = "x"
	objs := []runtime.Object{}
	for _, obj := range Objects(o) {
		objs = append(objs, obj)
	}
	rule, err := PrometheusRule(o, mustRead(t, filepath.Join(deployDir, "alerts/rules.yaml")))
	if err != nil {
		t.Fatal(err)
	}
	rendered, err := Render(append(objs, ServiceMonitor(o), rule)...)
	if err != nil {
		t.Fatal(err)
	}
	builder := decodeAll(t, rendered)
	delete(builder, "Namespace/"+DefaultNamespace) // Helm installs into the release namespace

	for key, b := range builder {
		c, ok := chart[key]
		if !ok {
			t.Errorf("chart lacks %s", key)
			continue
		}
		for _, path := range [][]string{
			{"spec", "selector"},
			{"spec", "ports"},
			{"spec", "type"},
			{"spec", "strategy"},
			{"spec", "template", "spec", "containers"},
			{"spec", "template", "spec", "hostNetwork"},
			{"spec", "template", "spec", "dnsPolicy"},
			{"spec", "template", "spec", "volumes"},
			{"spec", "template", "spec", "tolerations"},
			{"spec", "template", "spec", "affinity"},
			{"spec", "template", "spec", "securityContext"},
			{"spec", "template", "spec", "enableServiceLinks"},
			{"spec", "template", "spec", "terminationGracePeriodSeconds"},
			{"spec", "updateStrategy"},
			{"spec", "template", "spec", "serviceAccountName"},
			{"spec", "template", "metadata", "labels", "app.kubernetes.io/name"},
			{"spec", "endpoints"},
			{"spec", "ingressClassName"},
			{"spec", "rules"},
			{"spec", "parentRefs"},
			{"spec", "hostnames"},
			{"spec", "groups"},
			{"rules"},
			{"roleRef"},
			{"subjects"},
			{"automountServiceAccountToken"},
			{"metadata", "labels", "app.kubernetes.io/managed-by"},
			{"metadata", "labels", "app.kubernetes.io/part-of"},
		} {
			bv, cv := dig(b, path), dig(c, path)
			if key == "Secret/"+TokenSecret && path[0] == "data" {
				continue
			}
			if !reflect.DeepEqual(normalize(bv), normalize(cv)) {
				t.Errorf("%s %v differs:\nbuilder: %v\nchart:   %v", key, path, bv, cv)
			}
		}
	}
	for key := range chart {
		if _, ok := builder[key]; !ok {
			t.Errorf("chart has %s, the builder does not", key)
		}
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func dig(m map[string]any, path []string) any {
	var cur any = m
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[p]
	}
	return cur
}

// normalize makes YAML numbers comparable (int64 vs float64).
func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			out[k] = normalize(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(e)
		}
		return out
	case int64:
		return float64(x)
	case int:
		return float64(x)
	}
	return v
}
