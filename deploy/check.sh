#!/bin/sh
# Checks the monitor's deployment files: Helm chart lint and render, alert
# rule syntax and promtool unit tests, and the Go tests that keep the
# rendered manifests, the chart and the rules file in step.
# Usage: deploy/check.sh   (needs helm and promtool on PATH or in ~/go/bin)
set -eu
cd "$(dirname "$0")/.."
PATH="$PATH:$(go env GOPATH)/bin"
export PATH

chart=deploy/helm/netdoctor-monitor
echo "== helm lint"
helm lint --strict "$chart"
helm lint --strict "$chart" --set serviceMonitor.enabled=true,prometheusRule.enabled=true,server.nodePort.enabled=true,grafanaDashboard.enabled=true
echo "== helm template"
helm template netdoctor-monitor "$chart" --namespace netdoctor-monitor \
  --set serviceMonitor.enabled=true,prometheusRule.enabled=true,server.nodePort.enabled=true,grafanaDashboard.enabled=true >/dev/null
echo "== promtool"
promtool check rules deploy/alerts/rules.yaml
promtool test rules deploy/alerts/rules_test.yaml
echo "== go tests (manifests, chart and rules in step)"
go test -count=1 ./internal/monitor/manifest/
echo "monitor-check: OK"
