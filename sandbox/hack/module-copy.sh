# Sourced by the sandbox/hack/build-*.sh scripts that build a third-party
# component from the Go module proxy.
#
#   module_dir MODULE VERSION NAME
#
# downloads MODULE@VERSION (`go mod download -json`) and prints its
# (read-only) directory in the module cache; NAME names the script in errors.
#
#   module_copy MODULE VERSION NAME
#
# downloads MODULE@VERSION and sets $work to a writable temporary copy of
# its directory (the module cache is read-only), removed when the script
# exits. NAME names the temporary directory.
module_dir() {
  local module=$1 version=$2 name=$3 dir
  dir=$(GOFLAGS= go mod download -json "$module@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')
  if [ -z "$dir" ] || [ ! -d "$dir" ]; then
    echo "build-$name: go mod download $module@$version gave no directory" >&2
    exit 1
  fi
  echo "$dir"
}

module_copy() {
  local module=$1 version=$2 name=$3 dir
  dir=$(module_dir "$module" "$version" "$name")
  work=$(mktemp -d "/tmp/netdoctor-$name.XXXXXX")
  trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
  cp -r "$dir/." "$work/"
  chmod -R u+w "$work"
}
