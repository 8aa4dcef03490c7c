#!/usr/bin/env bash
# The README's main command (`make demo`): start a local real cluster (4
# nodes, dual stack) with netdoctor-sandbox, then run `netctl init` and
# `netctl check` against it as a user would. Needs root (network namespaces).
# The cluster stays up for you to explore; `make demo-down` removes it.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="_output/bin/$(go env GOOS)/$(go env GOARCH)"
name="${DEMO_NAME:-demo}"
if [ "$(id -u)" -ne 0 ]; then
  echo "make demo needs root: the sandbox cluster's nodes and pods are network namespaces (try: sudo make demo)" >&2
  exit 2
fi
if ! "$bin/netdoctor-sandbox" status --name "$name" >/dev/null 2>&1; then
  "$bin/netdoctor-sandbox" up --name "$name" --nodes "${DEMO_NODES:-4}" --ip-family dual
fi
kubeconfig=$("$bin/netdoctor-sandbox" status --name "$name" -o json | sed -n 's/.*"kubeconfig": *"\([^"]*\)".*/\1/p' | head -1)
registry=$("$bin/netdoctor-sandbox" status --name "$name" -o json | sed -n 's/.*"registry": *"\([^"]*\)".*/\1/p' | head -1)
# The agents come from the cluster's own registry: push this netctl's image there.
"$bin/netctl" image push --insecure "$registry/netdoctor/netctl:$("$bin/netctl" version -o json | sed -n 's/.*"version": *"\([^"]*\)".*/\1/p')"
work="_output/demo"
mkdir -p "$work"
netctl="$(pwd)/$bin/netctl"
cd "$work"
"$netctl" init --force
echo
echo "+ netctl check --kubeconfig $kubeconfig --image-repository $registry/netdoctor $*"
set +e
"$netctl" check --kubeconfig "$kubeconfig" --image-repository "$registry/netdoctor" "$@"
code=$?
set -e
echo
echo "The cluster \"$name\" is still running: kubectl --kubeconfig $kubeconfig get nodes"
echo "Try a fault: $bin/netdoctor-sandbox fault add --name $name link $name-node-1 $name-node-2   (then make demo again)"
echo "Remove it:   make demo-down"
exit $code
