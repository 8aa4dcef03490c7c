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
# its DNS-provider SDKs are refused by the proxy. The module directory from
# the module cache is read-only, so it is built from a writable temporary
# copy (removed afterwards). CGO_ENABLED=0 gives a static binary (it runs
# chrooted in a pod image that holds nothing else); GOFLAGS=-mod=mod lets go
# fill in missing go.sum lines. Cold: about 8 minutes on 2 cores.
set -euo pipefail
out=${1:?usage: $0 OUT_DIR [VERSION]}
version=${2:-v3.6.12}
module=github.com/traefik/traefik/v3
mkdir -p "$out"
out=$(cd "$out" && pwd)
moddir() {
  GOFLAGS= go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p'
}
t0=$(date +%s)
dir=$(moddir "$module@$version")
if [ -z "$dir" ] || [ ! -d "$dir" ]; then
  echo "build-traefik: go mod download $module@$version gave no directory" >&2
  exit 1
fi
gwversion=$(sed -n 's/^[[:space:]]*sigs\.k8s\.io\/gateway-api \(v[^ ]*\).*$/\1/p' "$dir/go.mod")
gwdir=$(moddir "sigs.k8s.io/gateway-api@$gwversion")
if [ -z "$gwversion" ] || [ ! -d "$gwdir/config/crd/standard" ]; then
  echo "build-traefik: no Gateway API CRDs for $module@$version (gateway-api '$gwversion')" >&2
  exit 1
fi
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
work=$(mktemp -d /tmp/netdoctor-traefik.XXXXXX)
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
cp -r "$dir/." "$work/"
chmod -R u+w "$work"
(
  cd "$work"
  CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-mod=mod \
    go build -trimpath \
      -ldflags "-s -w -X $module/pkg/version.Version=${version#v} -X $module/pkg/version.Codename=netdoctor-sandbox -X $module/pkg/version.BuildDate=1970-01-01T00:00:00Z" \
      -o "$out/traefik.tmp" ./cmd/traefik
)
mv "$out/traefik.tmp" "$out/traefik"
echo "built traefik $version in $(( $(date +%s) - t0 )) s: $out/traefik"
