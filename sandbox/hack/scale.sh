#!/usr/bin/env bash
# Measures sandbox start-up, DaemonSet roll-out, memory and teardown at
# several sizes and prints a Markdown table (copied into sandbox/README.md).
# Usage (root): sandbox/hack/scale.sh [NODES...]   default: 4 20 50 100
# UPFLAGS adds up flags, e.g. UPFLAGS="--overlay vxlan" (shown in the mode column).
set -euo pipefail
BIN=${BIN:-$(cd "$(dirname "$0")/../.." && pwd)/_output/bin/linux/amd64/netdoctor-sandbox}
NAME=${NAME:-scale}
FAMILY=${FAMILY:-dual}
UPFLAGS=${UPFLAGS:-${UP_FLAGS:-}} # e.g. UPFLAGS="--overlay vxlan --network-policy"
MODE=${UPFLAGS:-routed}
sizes=("$@"); [ ${#sizes[@]} -gt 0 ] || sizes=(4 20 50 100)

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}'; }

# pss_mib sums the proportional set size of the cluster's daemons and of every
# process inside its namespaces (the pods).
pss_mib() {
  local pids
  pids=$("$BIN" status --name "$NAME" -o json | jq -r '.processes[].pid')
  for ns in $(ip netns list | awk '{print $1}' | grep -E "^nd-$NAME-(n[0-9]+|p-)"); do
    pids+=" $(ip netns pids "$ns" 2>/dev/null || true)"
  done
  for p in $(echo $pids | tr ' ' '\n' | sort -u); do
    awk '/^Pss:/{print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || true
  done | awk '{s+=$1} END{printf "%.0f", s/1024}'
}

echo "| nodes | family | mode | up (nodes Ready + CoreDNS) | DaemonSet Ready on all nodes | memory PSS | down |"
echo "|---|---|---|---|---|---|---|"
for n in "${sizes[@]}"; do
  "$BIN" down --name "$NAME" >/dev/null 2>&1 || true
  t=$(now)
  kc=$("$BIN" up --name "$NAME" --nodes "$n" --ip-family "$FAMILY" $UPFLAGS --timeout 10m 2>/tmp/scale-up-$n.log)
  up=$(since "$t")
  t=$(now)
  kubectl --kubeconfig "$kc" apply -f - >/dev/null <<YAML
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: echo, namespace: default}
spec:
  selector: {matchLabels: {app: echo}}
  template:
    metadata: {labels: {app: echo}}
    spec:
      containers:
      - {name: echo, image: "sandbox.local/echo:v1", args: ["echo-server", "--port=8080"],
         readinessProbe: {httpGet: {path: /healthz, port: 8080}, periodSeconds: 1}}
YAML
  until [ "$(kubectl --kubeconfig "$kc" get ds echo -o jsonpath='{.status.numberReady}')" = "$n" ]; do sleep 0.5; done
  ds=$(since "$t")
  sleep 5 # let start-up churn settle before measuring memory
  mem=$(pss_mib)
  t=$(now)
  "$BIN" down --name "$NAME" >/dev/null 2>/tmp/scale-down-$n.log
  down=$(since "$t")
  echo "| $n | $FAMILY | $MODE | ${up} s | +${ds} s | ${mem} MiB | ${down} s |"
done
