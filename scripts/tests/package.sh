#!/usr/bin/env bash
# The Debian package, end to end, without installing it on this machine:
# builds it (scripts/package.sh), checks its control data and contents (the
# conffiles, the library path, the units, the maintainer scripts), extracts it
# with `dpkg -x` into a scratch root and runs the extracted binary's `musicaly
# run` there with no library path set, then verifies the units with
# `systemd-analyze verify` and rates them with `systemd-analyze security
# --offline=true` (this machine runs no systemd as PID 1): every unit must rate
# OK or better. Prints the scores.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
fail() { echo "package test: FAIL: $*" >&2; exit 1; }
log() { printf 'package test: %s\n' "$*" >&2; }
for tool in dpkg-deb systemd-analyze readelf; do
  command -v "$tool" >/dev/null || fail "$tool not found (apt-get install dpkg systemd binutils)"
done
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

deb="$(scripts/package.sh)"
log "built $deb"
units=(musicaly-pipeline musicaly-serve musicaly-simulate musicaly-kafka)

# --- control data and contents ------------------------------------------------
dpkg-deb --info "$deb" >"$tmp/info"
grep -q '^ Package: musicaly$' "$tmp/info" || fail "not the musicaly package: $(cat "$tmp/info")"
arch="$(dpkg --print-architecture)"
grep -q "^ Architecture: $arch$" "$tmp/info" || fail "architecture: $(grep Architecture "$tmp/info") (want $arch)"
dpkg-deb --contents "$deb" | awk '{print $6}' >"$tmp/contents"
for f in ./usr/bin/musicaly ./usr/lib/musicaly/libduckdb.so ./etc/musicaly/musicaly.toml \
  ./etc/musicaly/kafka/server.properties ./usr/share/doc/musicaly/default.toml; do
  grep -qx "$f" "$tmp/contents" || fail "$f is not in the package"
done
for u in "${units[@]}"; do
  grep -qx "./usr/lib/systemd/system/$u.service" "$tmp/contents" || fail "unit $u.service is not in the package"
done
dpkg-deb -e "$deb" "$tmp/control"
for c in /etc/musicaly/musicaly.toml /etc/musicaly/kafka/server.properties; do
  grep -qx "$c" "$tmp/control/conffiles" || fail "$c is not a conffile: $(cat "$tmp/control/conffiles")"
done
grep -q 'adduser --system' "$tmp/control/postinst" || fail "postinst does not create the musicaly system user"
grep -q 'install -d -o musicaly -g musicaly -m 0750 /var/lib/musicaly' "$tmp/control/postinst" ||
  fail "postinst does not create the state directory"
for s in postinst prerm postrm; do sh -n "$tmp/control/$s" || fail "$s: syntax error"; done

# --- the extracted binary runs with no library path ---------------------------
dpkg -x "$deb" "$tmp/root"
bin="$tmp/root/usr/bin/musicaly"
runpath="$(readelf -d "$bin" | sed -n 's/.*(RUNPATH).*\[\(.*\)\]/\1/p; s/.*(RPATH).*\[\(.*\)\]/\1/p')"
[ "$runpath" = '$ORIGIN/../lib/musicaly:/usr/lib/musicaly' ] || fail "rpath is '$runpath'"
lib="$(env -u LD_LIBRARY_PATH ldd "$bin" | awk '/libduckdb/ {print $3}')"
[ "$lib" = "$tmp/root/usr/bin/../lib/musicaly/libduckdb.so" ] || fail "libduckdb.so resolves to '$lib'"
log "running the extracted binary: musicaly run -n 100, one day"
env -u LD_LIBRARY_PATH RUST_LOG=warn "$bin" run -n 100 -s 2026-11-01 -e 2026-11-02 \
  --data-dir "$tmp/data" >"$tmp/run.out" 2>"$tmp/run.err" ||
  fail "musicaly run failed: $(tail -n 20 "$tmp/run.err")"
grep -q '^1\. Activity' "$tmp/run.out" || fail "no report in the output: $(head -n 20 "$tmp/run.out")"
grep -q 'active users' "$tmp/run.out" || fail "the report has no activity: $(head -n 20 "$tmp/run.out")"
[ -f "$tmp/data/warehouse.duckdb" ] || fail "no warehouse in the data dir"

# --- systemd units ------------------------------------------------------------
# verify resolves each unit's dependencies and ExecStart under --root: the
# scratch root gets the host's own units (targets, slices), a /bin/sh, and
# stand-ins for Kafka's start scripts, which come from the Apache release on
# the broker VM, not from this package.
mkdir -p "$tmp/root/bin" "$tmp/root/opt/kafka/bin"
cp -rn /lib/systemd/system/. "$tmp/root/usr/lib/systemd/system/" 2>/dev/null || true
cp /bin/sh "$tmp/root/bin/sh"
for s in kafka-server-start.sh kafka-storage.sh; do
  printf '#!/bin/sh\n' >"$tmp/root/opt/kafka/bin/$s"
  chmod +x "$tmp/root/opt/kafka/bin/$s"
done
scores=()
for u in "${units[@]}"; do
  out="$(systemd-analyze verify --root="$tmp/root" "$u.service" 2>&1)" || fail "systemd-analyze verify $u.service: $out"
  [ -z "$out" ] || fail "systemd-analyze verify $u.service warns: $out"
  rating="$(systemd-analyze security --offline=true --root="$tmp/root" "$u.service" 2>&1 | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\) \([A-Z]*\).*/\1 \2/p')"
  [ -n "$rating" ] || fail "systemd-analyze security gave no rating for $u.service"
  case "${rating#* }" in
    PERFECT | SAFE | OK) ;;
    *) fail "$u.service rates $rating (OK or better wanted)" ;;
  esac
  scores+=("$u.service $rating")
done
printf 'package test: security exposure (systemd-analyze security --offline=true): %s\n' "${scores[@]}" >&2
log "passed"
