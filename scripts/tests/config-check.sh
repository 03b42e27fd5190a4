#!/usr/bin/env bash
# Checks musicaly config files with the binary: `musicaly config check FILE` (exit 0/1, no
# side effects), or, with a binary that predates that command, `musicaly config -c FILE`
# (loads and validates the same way). Without arguments: the example configs in
# deploy/config/, plus a broken config that must be rejected (so the check can fail).
#
#   scripts/tests/config-check.sh [FILE...]      MUSICALY_BIN = the binary (default: release build)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
target="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/musicaly/target}"
bin="${MUSICALY_BIN:-$target/release/musicaly}"
fail() { echo "config-check.sh: FAILED: $*" >&2; exit 1; }
[ -x "$bin" ] || fail "no musicaly binary at $bin (cargo build --release --bin musicaly)"

if "$bin" config --help 2>/dev/null | grep -qw check; then how=(config check); else how=(config -c); fi
check() { "$bin" "${how[@]}" "$1" > /dev/null; }

files=("$@")
if [ ${#files[@]} = 0 ]; then
  files=("$root"/deploy/config/*.toml)
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  printf '[lake]\ncompresion = "zstd"\n' > "$tmp/unknown-key.toml"
  printf '[pipeline]\nmemory_limit_mb = 100\n' > "$tmp/out-of-range.toml"
  for bad in "$tmp"/unknown-key.toml "$tmp"/out-of-range.toml; do
    if check "$bad" 2> "$tmp/err"; then fail "musicaly ${how[*]} accepted $(basename "$bad")"; fi
  done
  grep -q "memory_limit_mb" "$tmp/err" || fail "the error does not name the key: $(cat "$tmp/err")"
fi
for f in "${files[@]}"; do
  check "$f" || fail "musicaly ${how[*]} $f"
  echo "config-check.sh: musicaly ${how[*]} $(basename "$f") OK"
done
