#!/usr/bin/env bash
# The dashboard in a real browser (tests/browser/dashboard.test.mjs): Debian's chromium driven
# by playwright-core over `musicaly serve` on a small `musicaly run` data dir, comparing every
# number on the page with `musicaly report --format json`. Saves docs/dashboard.png,
# docs/dashboard-dark.png and docs/dashboard-phone.png.
#
# Installs what is missing: chromium (apt-get, as root), playwright-core (npm ci into
# ~/.cache/musicaly/browser-test/, keyed on the lock file). Fails, never skips, when chromium,
# node or the server cannot be had.
#
# Environment:
#   CARGO_TARGET_DIR          build cache (default ~/.cache/musicaly/target)
#   MUSICALY_BROWSER_SEED     simulator seed (default 42; printed)
#   MUSICALY_SCREENSHOT_DIR   where the screenshots go (default docs/)
#   MUSICALY_CHROMIUM         the browser (default /usr/bin/chromium)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/musicaly"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$cache/target}"
chromium="${MUSICALY_CHROMIUM:-/usr/bin/chromium}"
say() { printf '== browser.sh: %s\n' "$*" >&2; }
die() { printf 'browser.sh: %s\n' "$*" >&2; exit 1; }

if [ ! -x "$chromium" ]; then
  say "installing Debian's chromium"
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
      || die "apt-get install chromium failed"
  elif command -v sudo >/dev/null; then
    sudo apt-get update -qq >/dev/null && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
      || die "sudo apt-get install chromium failed"
  fi
  [ -x "$chromium" ] || die "$chromium is missing: apt-get install chromium"
fi
command -v node >/dev/null || die "node is missing: apt-get install nodejs npm"
command -v npm >/dev/null || die "npm is missing: apt-get install npm"

lock="$root/tests/browser/package-lock.json"
mods="$cache/browser-test/$(sha256sum "$lock" | cut -c1-16)"
if [ ! -f "$mods/node_modules/playwright-core/package.json" ]; then
  say "npm ci (playwright-core) into $mods"
  rm -rf "$mods" && mkdir -p "$mods"
  cp "$root/tests/browser/package.json" "$lock" "$mods/"
  # --ignore-scripts: playwright-core has no install step; nothing may download a browser.
  (cd "$mods" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) || die "npm ci failed"
fi

say "cargo build --release --bin musicaly"
cargo build --release --bin musicaly
bin="$CARGO_TARGET_DIR/release/musicaly"

work="$(mktemp -d)"
pids=""
cleanup() {
  for p in $pids; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

seed="${MUSICALY_BROWSER_SEED:-42}"
say "musicaly run -n 300 -s 2026-11-01 -e 2026-11-03 -r $seed"
"$bin" run --data-dir "$work/data" -n 300 -s 2026-11-01 -e 2026-11-03 -r "$seed" >"$work/run.log" 2>&1 \
  || { cat "$work/run.log" >&2; die "musicaly run failed"; }

free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
# serve DATA_DIR PORT LOG: starts `musicaly serve` in the background (pid appended to $pids)
# and waits until it listens.
serve() {
  "$bin" serve --data-dir "$1" --listen "127.0.0.1:$2" >"$3" 2>&1 &
  local p=$!
  pids="$pids $p"
  for _ in $(seq 1 300); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null; then return 0; fi
    kill -0 "$p" 2>/dev/null || { cat "$3" >&2; die "musicaly serve --data-dir $1 exited"; }
    sleep 0.1
  done
  cat "$3" >&2; die "musicaly serve is not listening on 127.0.0.1:$2"
}
port="$(free_port)"
serve "$work/data" "$port" "$work/serve.log"
mkdir -p "$work/empty"
empty_port="$(free_port)"
serve "$work/empty" "$empty_port" "$work/serve-empty.log"

say "dashboard test (seed $seed, server 127.0.0.1:$port)"
status=0
MUSICALY_URL="http://127.0.0.1:$port/" MUSICALY_EMPTY_URL="http://127.0.0.1:$empty_port/" MUSICALY_BIN="$bin" MUSICALY_DATA_DIR="$work/data" \
  MUSICALY_NODE_MODULES="$mods/node_modules" MUSICALY_CHROMIUM="$chromium" \
  MUSICALY_SCREENSHOT_DIR="${MUSICALY_SCREENSHOT_DIR:-$root/docs}" \
  node "$root/tests/browser/dashboard.test.mjs" || status=$?
if [ "$status" != 0 ]; then
  say "server log:"; tail -n 40 "$work/serve.log" >&2
fi
exit "$status"
