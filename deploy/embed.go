// Package deploy carries the monitor's hand-written deployment sources into
// the netctl binary: the Prometheus rules file is the single source of the
// alerts, embedded into the PrometheusRule that `netctl monitor install`
// applies and that deploy/prometheus/prometheusrule.yaml is rendered from.
package deploy

import _ "embed"

// AlertRules is alerts/rules.yaml: a plain Prometheus rules file.
//
//go:embed alerts/rules.yaml
var AlertRules []byte
