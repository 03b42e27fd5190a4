#!/usr/bin/env bash
# Puts DuckDB's prebuilt shared library in <repo>/.duckdb/ for libduckdb-sys to link.
#
# Why: compiling DuckDB's bundled C++ takes ~25 minutes on a 2-core machine. The npm
# package @duckdb/node-bindings-linux-x64 ships the official libduckdb.so of the exact
# DuckDB version our `duckdb` crate wraps (crate 1.10506.x = DuckDB 1.5.6), so we link
# that. The tarball is cached under ${XDG_CACHE_HOME:-$HOME/.cache}/musicaly.
set -euo pipefail
DUCKDB_VERSION="1.5.6"
NPM_VERSION="${DUCKDB_VERSION}-r.1"
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/.duckdb"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/musicaly/duckdb-$NPM_VERSION"

if [ -f "$dest/libduckdb.so" ] && [ -f "$dest/duckdb.h" ] && grep -qx "$NPM_VERSION" "$dest/VERSION" 2>/dev/null; then
  exit 0
fi
if [ ! -f "$cache/libduckdb.so" ]; then
  command -v npm >/dev/null || { echo "fetch-duckdb: npm is needed to download libduckdb.so (apt-get install npm)" >&2; exit 1; }
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  echo "fetch-duckdb: downloading @duckdb/node-bindings-linux-x64@$NPM_VERSION" >&2
  (cd "$tmp" && npm pack --silent "@duckdb/node-bindings-linux-x64@$NPM_VERSION" >/dev/null && tar xzf ./*.tgz)
  mkdir -p "$cache"
  cp "$tmp/package/libduckdb.so" "$cache/libduckdb.so"
fi
mkdir -p "$dest"
cp "$cache/libduckdb.so" "$dest/libduckdb.so"
# libduckdb-sys ships pre-generated bindings; the header is only consulted when
# regenerating them, so an empty placeholder satisfies its include-dir check.
: > "$dest/duckdb.h"
echo "$NPM_VERSION" > "$dest/VERSION"
