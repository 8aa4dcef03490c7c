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
# proxy serves, and its firewall controller has four dual-stack/IPv6 bugs
# (1 and 2 found by sandbox e2e TestNetworkPolicy, 3 and 4 by netctl's e2e
# TestNetworkPolicyDefaultDeny):
#  1. IPv6 policy rules name the IPv6 ipsets without the "inet6:" prefix they
#     are created with, so every ip6tables-restore of a policy with a pod
#     selector or ipBlock fails ("Set KUBE-SRC-... doesn't exist") and the
#     sync aborts, leaving IPv6 (and, by map order, IPv4) rules stale. Fixed
#     by passing both names through the family's ipset handler's Name().
#  2. The stale-ipset cleanup compares IPv6 set names, which carry "inet6:",
#     with active names, which do not: IPv6 sets of deleted policies are
#     never removed (a leak towards the kernel's 256 sets per namespace).
#     Fixed by comparing without the prefix.
#  3. Each family's ipset handler holds the sets of BOTH families (`ipset
#     save` lists all of them) and its restore rewrites all it holds: the
#     handler restored second puts the other family's sets back to the
#     previous sync's entries. Which family loses is Go's map order, per
#     sync and node, so a pod-selector set (KUBE-SRC/KUBE-DST) of a policy
#     often stays without the pods created since (seen: the IPv4 sets of
#     netctl's policy empty on 2 of 3 nodes, the IPv6 ones full; allowed
#     IPv4 probes REJECTed). Upstream #1665, fixed after v2.1.0. Fixed by
#     keeping each handler, after Save, to the sets of its own family.
#  4. A pod under an egress policy cannot do IPv6 neighbour discovery with
#     its node: its neighbour solicitations (source: the pod's address) go
#     through the pod's firewall chain, match no policy (NetworkPolicy cannot
#     name ICMPv6) and are REJECTed, so the pod's gateway stays FAILED in its
#     neighbour table and every IPv6 connection times out. Upstream #1701 and
#     #1895, fixed after v2.1.0. Fixed by accepting ICMPv6 neighbour
#     solicitations and advertisements in every pod's IPv6 firewall chain.
#
# Security advisories are reported against kube-router v2.1.0: it is
# tolerable only inside the sandbox (a local test cluster in network
# namespaces of this machine). netdoctor never ships this binary.
set -euo pipefail
out=${1:?usage: $0 OUT_DIR [VERSION]}
version=${2:-v2.1.0}
stamp=$version+netdoctor.3
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
