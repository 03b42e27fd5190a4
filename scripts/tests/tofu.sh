#!/usr/bin/env bash
# Builds OpenTofu from the Go module proxy (once) and prints the binary's path.
# `go install ...@VERSION` refuses OpenTofu (its go.mod has replace directives), so this
# downloads the module source, copies it to a writable directory and runs `go build` there.
# Cached under ${XDG_CACHE_HOME:-~/.cache}/musicaly/tofu (about 3 minutes the first time).
#
#   scripts/tests/tofu.sh            prints the path of the tofu binary
set -euo pipefail
version="${MUSICALY_TOFU_VERSION:-v1.10.10}"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/musicaly/tofu"
bin="$cache/tofu-$version"
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi
command -v go >/dev/null || { echo "go not found: install Go 1.24+ (https://go.dev/dl) to build OpenTofu" >&2; exit 1; }
mkdir -p "$cache"
dir="$(go mod download -json "github.com/opentofu/opentofu@$version" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
src="$cache/src-$version"
rm -rf "$src"
cp -r "$dir" "$src"
chmod -R u+w "$src"
echo "building OpenTofu $version (a few minutes, once)" >&2
(cd "$src" && CGO_ENABLED=0 go build -ldflags "-X github.com/opentofu/opentofu/version.dev=no" -o "$bin.tmp" ./cmd/tofu)
mv "$bin.tmp" "$bin"
rm -rf "$src"
echo "$bin"
