#!/usr/bin/env bash
# Builds Traefik (the sandbox's Ingress controller and Gateway API
# implementation, `up --ingress`) from the Go module proxy into OUT/traefik,
# and copies the standard-channel Gateway API CRDs of the
# sigs.k8s.io/gateway-api version Traefik's go.mod requires into
# OUT/gateway-api-crds/. Skipped when OUT/traefik already reports VERSION
# and the CRDs are there.
#
#   hack/build-traefik.sh OUT_DIR [VERSION]
#
# v3.6.x is the newest line that builds from the proxy: v3.7's go.mod has a
# `replace` pointing at a folder missing from the module zip, and several of
# its DNS-provider SDKs are refused by the proxy. It is built inside a
# writable copy of its module directory (module-copy.sh; its go.mod's
# replace directives only apply there). CGO_ENABLED=0 gives a static binary
# (it runs chrooted in a pod image that holds nothing else);
# GOFLAGS=-mod=mod lets go fill in missing go.sum lines. Cold: about 8
# minutes on an idle 2-core machine (49 min measured at load 20-30).
set -euo pipefail
out=${1:?usage: $0 OUT_DIR [VERSION]}
version=${2:-v3.6.12}
module=github.com/traefik/traefik/v3
mkdir -p "$out"
out=$(cd "$out" && pwd)
t0=$(date +%s)
# shellcheck source=module-copy.sh
. "$(dirname "$0")/module-copy.sh"
dir=$(module_dir "$module" "$version" traefik)
gwversion=$(sed -n 's/^[[:space:]]*sigs\.k8s\.io\/gateway-api \(v[^ ]*\).*$/\1/p' "$dir/go.mod")
if [ -z "$gwversion" ]; then
  echo "build-traefik: $module@$version's go.mod requires no sigs.k8s.io/gateway-api" >&2
  exit 1
fi
gwdir=$(module_dir sigs.k8s.io/gateway-api "$gwversion" traefik)
crds=$out/gateway-api-crds
rm -rf "$crds.tmp"
mkdir -p "$crds.tmp"
cp "$gwdir"/config/crd/standard/gateway.networking.k8s.io_*.yaml "$crds.tmp/"
chmod 644 "$crds.tmp"/*.yaml
rm -rf "$crds"
mv "$crds.tmp" "$crds"
echo "Gateway API $gwversion standard CRDs: $crds"
if [ -x "$out/traefik" ] && "$out/traefik" version 2>&1 | grep -qE "^Version:[[:space:]]+${version#v}\$"; then
  echo "traefik $version already built: $out/traefik"
  exit 0
fi
module_copy "$module" "$version" traefik
(
  cd "$work"
  CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-mod=mod \
    go build -trimpath \
      -ldflags "-s -w -X $module/pkg/version.Version=${version#v} -X $module/pkg/version.Codename=netdoctor-sandbox -X $module/pkg/version.BuildDate=1970-01-01T00:00:00Z" \
      -o "$out/traefik.tmp" ./cmd/traefik
)
mv "$out/traefik.tmp" "$out/traefik"
echo "built traefik $version in $(( $(date +%s) - t0 )) s: $out/traefik"
