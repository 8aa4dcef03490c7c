#!/usr/bin/env bash
# Builds kube-router (only its firewall controller is used: the sandbox's
# NetworkPolicy engine, `up --network-policy`) from the Go module proxy into
# OUT/kube-router. Skipped when OUT/kube-router already reports VERSION.
#
#   hack/build-kube-router.sh OUT_DIR [VERSION]
#
# The module directory from the module cache is read-only, so it is built
# from a writable temporary copy (removed afterwards). CGO_ENABLED=0 gives a
# static binary; GOFLAGS=-mod=mod lets go fill in missing go.sum lines.
#
# hack/kube-router-VERSION.patch is applied to the copy (the binary then
# reports VERSION+netdoctor.N); v2.1.0 is the only v2 release the module
# proxy serves, and its firewall controller has two IPv6 bugs (both found by
# e2e TestNetworkPolicy):
#  1. IPv6 policy rules name the IPv6 ipsets without the "inet6:" prefix they
#     are created with, so every ip6tables-restore of a policy with a pod
#     selector or ipBlock fails ("Set KUBE-SRC-... doesn't exist") and the
#     sync aborts, leaving IPv6 (and, by map order, IPv4) rules stale. Fixed
#     by passing both names through the family's ipset handler's Name().
#  2. The stale-ipset cleanup lets each family's handler walk the sets of
#     both families: the IPv6 handler tries to destroy IPv4 sets under an
#     "inet6:" name (error, cleanup aborted) and stale IPv6 sets are never
#     removed (a leak towards the kernel's 256 sets per namespace). Fixed by
#     keeping each handler to its own family's sets.
#
# Security advisories are reported against kube-router v2.1.0: it is
# tolerable only inside the sandbox (a local test cluster in network
# namespaces of this machine). netdoctor never ships this binary.
set -euo pipefail
out=${1:?usage: $0 OUT_DIR [VERSION]}
version=${2:-v2.1.0}
stamp=$version+netdoctor.2
module=github.com/cloudnativelabs/kube-router/v2
mkdir -p "$out"
out=$(cd "$out" && pwd)
if [ -x "$out/kube-router" ] && "$out/kube-router" --version 2>&1 | grep -qF "version $stamp,"; then
  echo "kube-router $stamp already built: $out/kube-router"
  exit 0
fi
t0=$(date +%s)
# shellcheck source=module-copy.sh
. "$(dirname "$0")/module-copy.sh"
module_copy "$module" "$version" kube-router
patch=$(cd "$(dirname "$0")" && pwd)/kube-router-$version.patch
if [ -f "$patch" ]; then
  (cd "$work" && git apply --verbose "$patch")
fi
(
  cd "$work"
  CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-mod=mod \
    go build -trimpath \
      -ldflags "-s -w -X $module/pkg/version.Version=$stamp -X $module/pkg/version.BuildDate=1970-01-01T00:00:00Z" \
      -o "$out/kube-router.tmp" ./cmd/kube-router
)
mv "$out/kube-router.tmp" "$out/kube-router"
echo "built kube-router $stamp in $(( $(date +%s) - t0 )) s: $out/kube-router"
