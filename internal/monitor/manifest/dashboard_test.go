package manifest

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
)

// TestChartDashboardMatchesSource: the chart carries a copy of the Grafana
// dashboard (Helm reads only files inside the chart).
func TestChartDashboardMatchesSource(t *testing.T) {
	src := mustRead(t, filepath.Join(deployDir, "grafana/netdoctor.json"))
	cp := mustRead(t, filepath.Join(deployDir, "helm/netdoctor-monitor/files/netdoctor.json"))
	if !bytes.Equal(src, cp) {
		t.Error("deploy/helm/netdoctor-monitor/files/netdoctor.json differs from deploy/grafana/netdoctor.json; copy it over")
	}
}

// TestHelmDashboardConfigMap: grafanaDashboard.enabled renders one
// ConfigMap with Grafana's sidecar label holding the dashboard unchanged;
// disabled (the default) renders none.
func TestHelmDashboardConfigMap(t *testing.T) {
	helm := helmBinary(t)
	chart := filepath.Join(deployDir, "helm/netdoctor-monitor")
	render := func(set string) map[string]map[string]any {
		out, err := exec.Command(helm, "template", "netdoctor-monitor", chart, "--namespace", "mon", "--set", set).Output()
		if err != nil {
			t.Fatalf("helm template --set %s: %v", set, err)
		}
		return decodeAll(t, out)
	}
	const key = "ConfigMap/netdoctor-monitor-dashboard"
	if _, ok := render("token=x")[key]; ok {
		t.Errorf("%s rendered although grafanaDashboard.enabled defaults to false", key)
	}
	cm, ok := render("token=x,grafanaDashboard.enabled=true,grafanaDashboard.namespace=grafana")[key]
	if !ok {
		t.Fatalf("grafanaDashboard.enabled=true renders no %s", key)
	}
	md := cm["metadata"].(map[string]any)
	labels, _ := md["labels"].(map[string]any)
	if labels["grafana_dashboard"] != "1" || labels["app.kubernetes.io/part-of"] != "netdoctor-monitor" {
		t.Errorf("labels %v: want grafana_dashboard: \"1\" and the monitor's labels", labels)
	}
	if md["namespace"] != "grafana" {
		t.Errorf("namespace %v, want grafana (grafanaDashboard.namespace)", md["namespace"])
	}
	data, _ := cm["data"].(map[string]any)
	text, _ := data["netdoctor.json"].(string)
	var got, want any
	if err := json.Unmarshal([]byte(text), &got); err != nil {
		t.Fatalf("data netdoctor.json is not JSON: %v", err)
	}
	if err := json.Unmarshal(mustRead(t, filepath.Join(deployDir, "grafana/netdoctor.json")), &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Error("the ConfigMap's netdoctor.json differs from deploy/grafana/netdoctor.json")
	}
}
