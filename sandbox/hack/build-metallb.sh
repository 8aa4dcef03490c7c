#!/usr/bin/env bash
# Builds MetalLB's speaker and controller (the sandbox's LoadBalancer
# implementation, `up --load-balancer`) from the Go module proxy into
# OUT/metallb-speaker and OUT/metallb-controller, plus MetalLB's own
# manifest OUT/metallb-native.yaml (config/manifests/ of the module: CRDs,
# RBAC, the speaker DaemonSet and controller Deployment that `up` applies).
# Skipped when all three are there and both binaries report VERSION.
#
#   hack/build-metallb.sh OUT_DIR [VERSION]
#
# The module directory from the module cache is read-only, so it is built
# from a writable temporary copy (removed afterwards). CGO_ENABLED=0 gives
# static binaries; GOFLAGS=-mod=mod lets go fill in missing go.sum lines;
# GOTOOLCHAIN=local builds with the installed Go even when go.mod names a
# newer toolchain. v0.16.x does not build from the proxy (it needs
# github.com/metallb/frr-k8s v0.0.27, which the proxy refuses): v0.15.2 is
# the newest release that does.
#
# The binaries print their version only in their startup log, and -trimpath
# keeps -ldflags out of the build info, so the check looks for the stamp
# this script sets where MetalLB's Dockerfile sets the git commit and branch
# (-X .../internal/version.gitCommit=netdoctor-sandbox+VERSION): the string
# is in the binary (sandbox/internal/metallb checks it the same way).
set -euo pipefail
out=${1:?usage: $0 OUT_DIR [VERSION]}
version=${2:-v0.15.2}
module=go.universe.tf/metallb
tag=netdoctor-sandbox+$version
stamp="-X $module/internal/version.gitCommit=$tag -X $module/internal/version.gitBranch=$version"
mkdir -p "$out"
out=$(cd "$out" && pwd)
built() { # $1 = binary: true when it was built by this script for VERSION
  [ -x "$1" ] && grep -qaF "$tag" "$1"
}
if built "$out/metallb-speaker" && built "$out/metallb-controller" && [ -f "$out/metallb-native.yaml" ]; then
  echo "MetalLB $version already built: $out/metallb-speaker $out/metallb-controller"
  exit 0
fi
t0=$(date +%s)
# shellcheck source=module-copy.sh
. "$(dirname "$0")/module-copy.sh"
module_copy "$module" "$version" metallb
(
  cd "$work"
  export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-mod=mod
  go build -trimpath -ldflags "-s -w $stamp" -o "$out/metallb-speaker.tmp" ./speaker
  go build -trimpath -ldflags "-s -w $stamp" -o "$out/metallb-controller.tmp" ./controller
)
cp "$work/config/manifests/metallb-native.yaml" "$out/metallb-native.yaml"
mv "$out/metallb-speaker.tmp" "$out/metallb-speaker"
mv "$out/metallb-controller.tmp" "$out/metallb-controller"
echo "built MetalLB $version in $(( $(date +%s) - t0 )) s: $out/metallb-speaker $out/metallb-controller"
