#!/usr/bin/env bash
# Puts DuckDB's prebuilt shared library where libduckdb-sys links it.
#
#   scripts/fetch-duckdb.sh [PLATFORM [DEST]]
#
#   PLATFORM  linux-x64, linux-arm64, darwin-x64 or darwin-arm64; default: this
#             machine's (uname). build.rs passes the cargo target's, so a
#             cross build (e.g. the arm64 package) gets the library it links.
#   DEST      directory for libduckdb.so (libduckdb.dylib on darwin); default
#             <repo>/.duckdb for this machine's platform, <repo>/.duckdb/PLATFORM
#             for another one.
#
# Why: compiling DuckDB's bundled C++ takes ~25 minutes on a 2-core machine. The npm
# packages @duckdb/node-bindings-PLATFORM ship the official library of the exact
# DuckDB version our `duckdb` crate wraps (crate 1.10506.x = DuckDB 1.5.6), so we link
# that. The library is cached under ${XDG_CACHE_HOME:-$HOME/.cache}/musicaly.
set -euo pipefail
DUCKDB_VERSION="1.5.6"
NPM_VERSION="${DUCKDB_VERSION}-r.1"
root="$(cd "$(dirname "$0")/.." && pwd)"

host_platform() {
  local os arch
  case "$(uname -s)" in
    Linux) os=linux ;;
    Darwin) os=darwin ;;
    *) echo "fetch-duckdb: unsupported OS $(uname -s) (DuckDB's npm builds cover Linux and macOS)" >&2; exit 1 ;;
  esac
  case "$(uname -m)" in
    x86_64 | amd64) arch=x64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) echo "fetch-duckdb: unsupported CPU $(uname -m) (x86_64 and arm64 only)" >&2; exit 1 ;;
  esac
  echo "$os-$arch"
}

host="$(host_platform)"
platform="${1:-$host}"
case "$platform" in
  linux-x64 | linux-arm64) lib=libduckdb.so ;;
  darwin-x64 | darwin-arm64) lib=libduckdb.dylib ;;
  *) echo "fetch-duckdb: unknown platform '$platform' (allowed: linux-x64, linux-arm64, darwin-x64, darwin-arm64)" >&2; exit 2 ;;
esac
if [ -n "${2:-}" ]; then
  dest="$2"
elif [ "$platform" = "$host" ]; then
  dest="$root/.duckdb"
else
  dest="$root/.duckdb/$platform"
fi
cache="${XDG_CACHE_HOME:-$HOME/.cache}/musicaly/duckdb-$NPM_VERSION"
# The host's library stays at the cache's top level (where earlier versions of
# this script put it), other platforms' in a subdirectory.
[ "$platform" = linux-x64 ] || cache="$cache/$platform"

if [ -f "$dest/$lib" ] && [ -f "$dest/duckdb.h" ] && grep -qx "$NPM_VERSION $platform" "$dest/VERSION" 2>/dev/null; then
  exit 0
fi
# A directory filled by the older script (linux-x64 only) records just the version.
if [ "$platform" = linux-x64 ] && [ -f "$dest/$lib" ] && [ -f "$dest/duckdb.h" ] && grep -qx "$NPM_VERSION" "$dest/VERSION" 2>/dev/null; then
  exit 0
fi
if [ ! -f "$cache/$lib" ]; then
  command -v npm >/dev/null || { echo "fetch-duckdb: npm is needed to download $lib (apt-get install npm, or brew install node)" >&2; exit 1; }
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  echo "fetch-duckdb: downloading @duckdb/node-bindings-$platform@$NPM_VERSION" >&2
  (cd "$tmp" && npm pack --silent "@duckdb/node-bindings-$platform@$NPM_VERSION" >/dev/null && tar xzf ./*.tgz)
  mkdir -p "$cache"
  cp "$tmp/package/$lib" "$cache/$lib.part"
  mv "$cache/$lib.part" "$cache/$lib"
fi
mkdir -p "$dest"
cp "$cache/$lib" "$dest/$lib.part"
mv "$dest/$lib.part" "$dest/$lib"
# libduckdb-sys ships pre-generated bindings; the header is only consulted when
# regenerating them, so an empty placeholder satisfies its include-dir check.
: > "$dest/duckdb.h"
echo "$NPM_VERSION $platform" > "$dest/VERSION"
