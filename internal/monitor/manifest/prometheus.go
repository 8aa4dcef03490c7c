package manifest

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/netdoctor/netdoctor/internal/monitor/api"
)

// Prometheus Operator objects (monitoring.coreos.com/v1). They are built
// unstructured: the operator's Go types would pull a large module in for
// two objects.
const (
	MonitoringAPIVersion = "monitoring.coreos.com/v1"
	ServiceMonitorName   = "netdoctor-monitor"
	PrometheusRuleName   = "netdoctor-monitor"
)

// ScrapeInterval is the ServiceMonitor's interval (k8s-netchecker's 15s).
const ScrapeInterval = 15 * time.Second

// ServiceMonitor scrapes the server's /metrics through its Service.
func ServiceMonitor(o Options) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": MonitoringAPIVersion,
		"kind":       "ServiceMonitor",
		"metadata":   objectMeta(o, ServiceMonitorName),
		"spec": map[string]any{
			"selector": map[string]any{"matchLabels": toAny(serverSelector())},
			"namespaceSelector": map[string]any{
				"matchNames": []any{o.Namespace},
			},
			"endpoints": []any{map[string]any{
				"port":     "http",
				"path":     api.PathMetrics,
				"interval": seconds(ScrapeInterval),
			}},
		},
	}}
	return u
}

// PrometheusRule wraps the plain rules file (deploy/alerts/rules.yaml) in
// a PrometheusRule object.
func PrometheusRule(o Options, rulesFile []byte) (*unstructured.Unstructured, error) {
	var rules map[string]any
	if err := yaml.Unmarshal(rulesFile, &rules); err != nil {
		return nil, fmt.Errorf("parsing alert rules: %w", err)
	}
	groups, ok := rules["groups"].([]any)
	if !ok || len(groups) == 0 {
		return nil, fmt.Errorf("alert rules: no groups")
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": MonitoringAPIVersion,
		"kind":       "PrometheusRule",
		"metadata":   objectMeta(o, PrometheusRuleName),
		"spec":       map[string]any{"groups": groups},
	}}, nil
}

func objectMeta(o Options, name string) map[string]any {
	return map[string]any{
		"name":      name,
		"namespace": o.Namespace,
		"labels":    toAny(commonLabels(api.ServerAppName)),
	}
}

func toAny(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
