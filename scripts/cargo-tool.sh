#!/usr/bin/env bash
# Installs a pinned cargo subcommand (from crates.io, compiled locally) into
# ${XDG_CACHE_HOME:-~/.cache}/musicaly/bin once, and prints the binary's path.
#
#   scripts/cargo-tool.sh cargo-fuzz      -> .../musicaly/bin/cargo-fuzz
#   scripts/cargo-tool.sh cargo-deny      -> .../musicaly/bin/cargo-deny
#
# Why pinned and cached: CI starts from a clean clone with a possibly cold cache; the
# versions below are the ones the suite was written against (a newer cargo-deny may
# reject deny.toml keys), and compiling them costs minutes on 2 cores, so it happens
# once per cache. Progress goes to stderr, the path to stdout.
set -euo pipefail
root="${XDG_CACHE_HOME:-$HOME/.cache}/musicaly"
name="${1:?usage: $0 cargo-fuzz|cargo-deny}"
case "$name" in
  cargo-fuzz) version=0.13.2 ;;
  cargo-deny) version=0.20.2 ;;
  *) echo "cargo-tool.sh: unknown tool '$name' (known: cargo-fuzz, cargo-deny)" >&2; exit 2 ;;
esac
bin="$root/bin/$name"
if [[ -x $bin ]] && "$bin" "${name#cargo-}" --version 2>/dev/null | grep -q "$version"; then
  printf '%s\n' "$bin"; exit 0
fi
mkdir -p "$root"
exec 7>"$root/.cargo-tool.lock"
command -v flock >/dev/null && flock 7
if ! { [[ -x $bin ]] && "$bin" "${name#cargo-}" --version 2>/dev/null | grep -q "$version"; }; then
  echo "cargo-tool.sh: installing $name $version into $root/bin (compiles from crates.io, first run only) ..." >&2
  started=$(date +%s)
  # Its own target dir: must not take the lock of the project's build cache.
  CARGO_TARGET_DIR="$root/tool-build" cargo install --locked --quiet --root "$root" "$name" --version "=$version" >&2
  echo "cargo-tool.sh: $name $version installed in $(( $(date +%s) - started )) s (load average: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
fi
printf '%s\n' "$bin"
