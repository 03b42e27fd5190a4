#!/usr/bin/env bash
# Re-fetches the dashboard's third-party files (src/web/assets/vendor/) from npm at the
# pinned versions and checks each against its recorded sha256, so the committed files
# are reproducible. The cargo build never runs this (the files are committed and
# embedded); run it only to verify or to bump a version (then update PINS and
# vendor/LICENSES.md together).
#
#   scripts/vendor-web.sh           fetch, verify, copy into src/web/assets/vendor/
#   scripts/vendor-web.sh --check   fetch, verify, and compare with the committed files
#                                   (exit 1 on any difference; changes nothing)
# Needs npm (the registry only; no install scripts are run: `npm pack` downloads tarballs).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/src/web/assets/vendor"
check=0
[ "${1:-}" = "--check" ] && check=1

# package@version  path-in-tarball  file-in-vendor  sha256
PINS='
echarts@6.1.0          package/dist/echarts.min.js                  echarts.min.js             b66b25aeb4df84e33199dc21694014d336d222cbd9deb0e5a7c14bd6aa0d0fd0
topojson-client@3.1.0  package/dist/topojson-client.min.js          topojson-client.min.js     25cd02ae486cc5063e0215a4e4cfb15de83700c87ac48bac4d57dc6aaf3ebb89
us-atlas@3.0.1         package/states-albers-10m.json               states-albers-10m.json     6e7bb086a3c791490361968a3094f377f7726c5d0c4900fec03cc42db2305a3d
'

command -v npm >/dev/null || { echo "vendor-web.sh: npm not found (apt-get install npm)" >&2; exit 1; }
cache="${XDG_CACHE_HOME:-$HOME/.cache}/musicaly/vendor-web"
mkdir -p "$cache"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

status=0
while read -r pkg inner file sum; do
  [ -z "$pkg" ] && continue
  tgz="$cache/$(echo "$pkg" | tr '@/' '--').tgz"
  if [ ! -s "$tgz" ]; then
    # npm pack checks the registry's integrity hash of the tarball itself.
    (cd "$work" && npm pack --silent "$pkg" >"$work/name")
    mv "$work/$(cat "$work/name")" "$tgz"
  fi
  mkdir -p "$work/x"
  tar -xzf "$tgz" -C "$work/x" "$inner"
  got="$(sha256sum "$work/x/$inner" | cut -d' ' -f1)"
  if [ "$got" != "$sum" ]; then
    echo "vendor-web.sh: $pkg $inner has sha256 $got, expected $sum" >&2
    status=1; continue
  fi
  if [ "$check" = 1 ]; then
    if ! cmp -s "$work/x/$inner" "$dest/$file"; then
      echo "vendor-web.sh: $dest/$file differs from $pkg's $inner" >&2
      status=1
    else
      echo "ok  $file  $pkg  $sum"
    fi
  else
    cp "$work/x/$inner" "$dest/$file"
    echo "ok  $file  $pkg  $sum"
  fi
  rm -rf "$work/x"
done <<<"$PINS"
exit "$status"
