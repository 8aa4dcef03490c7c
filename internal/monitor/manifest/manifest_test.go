package manifest

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"

	deployfiles "github.com/netdoctor/netdoctor/deploy"
	"github.com/netdoctor/netdoctor/internal/monitor/api"
)

const deployDir = "../../../deploy"

// TestCommittedManifestsMatchBuilder keeps deploy/*.yaml equal to the
// builder's output. UPDATE_GOLDEN=1 rewrites them.
func TestCommittedManifestsMatchBuilder(t *testing.T) {
	files, err := Files(deployfiles.AlertRules)
	if err != nil {
		t.Fatal(err)
	}
	for rel, want := range files {
		path := filepath.Join(deployDir, rel)
		if os.Getenv("UPDATE_GOLDEN") == "1" {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%s: %v (run UPDATE_GOLDEN=1 go test ./internal/monitor/manifest)", rel, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("deploy/%s differs from the builder output; run UPDATE_GOLDEN=1 go test ./internal/monitor/manifest", rel)
		}
	}
}

// TestChartRulesMatchSource: the Helm chart carries a copy of the rules
// file (Helm can only read files inside the chart).
func TestChartRulesMatchSource(t *testing.T) {
	got, err := os.ReadFile(filepath.Join(deployDir, "helm/netdoctor-monitor/files/rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, deployfiles.AlertRules) {
		t.Error("deploy/helm/netdoctor-monitor/files/rules.yaml differs from deploy/alerts/rules.yaml; copy it over")
	}
}

func TestPrometheusRuleEmbedsRulesFile(t *testing.T) {
	rule, err := PrometheusRule(Defaults(), deployfiles.AlertRules)
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := yaml.Marshal(rule.Object["spec"])
	var plain any
	if err := yaml.Unmarshal(deployfiles.AlertRules, &plain); err != nil {
		t.Fatal(err)
	}
	want, _ := yaml.Marshal(plain)
	if !bytes.Equal(spec, want) {
		t.Errorf("PrometheusRule spec differs from the rules file:\n%s\nwant\n%s", spec, want)
	}
	for _, alert := range []string{"NetCheckerAgentErrors", "NetCheckerReportsMissing", "NetCheckerTCPServerDelay", "NetCheckerDNSSlow",
		"NetdoctorNodePairUnreachable", "NetdoctorNodeUnreachable", "NetdoctorDNSFailing", "NetdoctorLatencyHigh"} {
		if !strings.Contains(string(spec), "alert: "+alert+"\n") {
			t.Errorf("rules lack %s", alert)
		}
	}
}

func TestObjectsLabelsAndShape(t *testing.T) {
	o := Defaults()
	o.Token = "tok"
	o.NodePort = DefaultNodePort
	o.Interval = 2 * time.Second
	objs := Objects(o)
	kinds := map[string]int{}
	for _, obj := range objs {
		kind := obj.GetObjectKind().GroupVersionKind().Kind
		kinds[kind]++
		l := obj.GetLabels()
		if l[api.LabelManagedBy] != "netctl" || l[api.LabelPartOf] != "netdoctor-monitor" {
			t.Errorf("%s %s labels = %v", kind, obj.GetName(), l)
		}
	}
	for kind, n := range map[string]int{"Namespace": 1, "ServiceAccount": 2, "Secret": 1, "DaemonSet": 2, "Deployment": 1, "Service": 2,
		"ClusterRole": 1, "ClusterRoleBinding": 1, "Role": 1, "RoleBinding": 1} {
		if kinds[kind] != n {
			t.Errorf("%d %s objects, want %d", kinds[kind], kind, n)
		}
	}
	var host, pod *appsv1.DaemonSet
	for _, obj := range objs {
		if ds, ok := obj.(*appsv1.DaemonSet); ok {
			if ds.Spec.Template.Spec.HostNetwork {
				host = ds
			} else {
				pod = ds
			}
		}
	}
	if host == nil || pod == nil || host.Name != HostAgentDS || pod.Name != PodAgentDS {
		t.Fatalf("daemonsets: host=%v pod=%v", host, pod)
	}
	cmd := strings.Join(host.Spec.Template.Spec.Containers[0].Command, " ")
	for _, want := range []string{"netctl monitor agent", "--network=host", "--interval=2s", "--server=http://netdoctor-monitor.netdoctor-monitor.svc:8081", "--token-file=/etc/netdoctor/token"} {
		if !strings.Contains(cmd, want) {
			t.Errorf("host agent command %q lacks %q", cmd, want)
		}
	}
	if img := pod.Spec.Template.Spec.Containers[0].Image; img != "ghcr.io/netdoctor/netctl:"+ReleaseVersion {
		t.Errorf("image = %s", img)
	}
	if pod.Spec.Template.Spec.AutomountServiceAccountToken == nil || *pod.Spec.Template.Spec.AutomountServiceAccountToken {
		t.Error("agents must not mount an API token")
	}
}

func TestValidateNamesEveryBadOption(t *testing.T) {
	o := Options{Namespace: "Bad_NS", Interval: 1500 * time.Millisecond, ServerPort: 0, AgentPort: 70000, NodePort: 80, PeersPerNode: 0}
	err := o.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"--namespace", "--image-repository", "--interval", "--server-port", "--agent-port", "--node-port", "--peers-per-node"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %s:\n%v", want, err)
		}
	}
	if err := Defaults().Validate(); err != nil {
		t.Errorf("defaults invalid: %v", err)
	}
}
