#!/usr/bin/env bash
# Seeds the fuzz corpora (fuzz/, scripts/tests/fuzz.sh) from real inputs: the
# Sparkify events and eventsim configs in ../shared/fixtures, our own config files,
# and the simulator's output in both dialects. Idempotent: a seed's file name is its
# SHA-1 (libFuzzer's naming), so re-seeding adds nothing twice and keeps what the
# fuzzer found.
#
#   scripts/fuzz-corpus.sh DIR     writes DIR/decode, DIR/config, DIR/eventsim_config
#
# Environment:
#   MUSICALY_BIN   the musicaly binary for simulator seeds
#                  (default $CARGO_TARGET_DIR/release/musicaly; without it, no simulator seeds)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:?usage: $0 DIR}"
fixtures="$root/../shared/fixtures"
bin="${MUSICALY_BIN:-${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/musicaly/target}/release/musicaly}"
mkdir -p "$out/decode" "$out/config" "$out/eventsim_config"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

seed() { # seed TARGET < content
  local f="$tmp/seed"
  cat >"$f"
  local name
  name="$(sha1sum "$f" | cut -d ' ' -f 1)"
  [[ -e $out/$1/$name ]] || mv "$f" "$out/$1/$name"
}

# Every Nth line of an NDJSON file as a message, and consecutive pairs joined by a
# newline (the decode target primes its key-order prediction with the first).
lines() { # lines FILE COUNT
  local file="$1" count="$2" n every
  n="$(wc -l <"$file")"
  every=$(( n / count > 0 ? n / count : 1 ))
  # (Limits inside awk, not `| head`: head closing the pipe early would be a
  # SIGPIPE failure under pipefail.)
  awk -v e="$every" -v c="$count" '(NR % e == 1 || e == 1) && n++ < c' "$file" >"$tmp/lines"
  while IFS= read -r l; do printf '%s' "$l" | seed decode; done <"$tmp/lines"
  awk -v c="$(( count / 2 ))" 'NR > 1 && NR <= c + 1 { printf "%s\n%s", prev, $0 > (FILENAME ".pair" NR) } { prev = $0 }' "$tmp/lines"
  for p in "$tmp"/lines.pair*; do [[ -e $p ]] && seed decode <"$p" && rm -f "$p"; done
}

if [[ -d $fixtures/sparkify ]]; then
  for f in "$fixtures"/sparkify/*.json; do lines "$f" 60; done
else
  echo "fuzz-corpus.sh: no $fixtures/sparkify: no Sparkify seeds" >&2
fi
if [[ -x $bin ]]; then
  "$bin" simulate -n 30 -s 2026-11-01 -e 2026-11-02 -r 3 "$tmp/four" 2>/dev/null
  for f in "$tmp"/four/*.json; do lines "$f" 20; done
  "$bin" simulate -n 30 -s 2026-11-01 -e 2026-11-02 -r 4 --format single --tag fuzz "$tmp/single.json" 2>/dev/null
  lines "$tmp/single.json" 60
else
  echo "fuzz-corpus.sh: no musicaly binary at $bin: no simulator seeds (cargo build --release first)" >&2
fi
# A few broken shapes the scanner's error paths start from.
for s in '' '{}' '{"ts":' '{"ts":1541105830796,"ts":1}' '[1,2]' '{"userId":""}' '{"song":"\u00e9\"x"}'; do
  printf '%s' "$s" | seed decode
done

seed config <"$root/config/default.toml"
# Each section of the defaults alone, and a typical deployment file.
awk -v dir="$tmp" '/^\[/{f=dir "/section" (++n)} f{print > f}' "$root/config/default.toml"
for f in "$tmp"/section*; do seed config <"$f"; rm -f "$f"; done
seed config <<'TOML'
[data]
dir = "/var/lib/musicaly"
[kafka]
brokers = "10.0.0.5:9093"
security_protocol = "sasl_ssl"
sasl_username = "musicaly"
sasl_password_file = "/etc/musicaly/kafka.password"
ssl_ca_file = "/etc/musicaly/ca.pem"
topics = ["events"]
[kafka.properties]
"session.timeout.ms" = "6000"
[lake]
path = "gs://bucket/lake"
compression = "zstd"
zstd_level = 3
[web]
listen = "127.0.0.1:9464"
TOML

seed eventsim_config <"$root/config/eventsim-default.json"
if [[ -d $fixtures/eventsim ]]; then
  for f in "$fixtures"/eventsim/*.json; do seed eventsim_config <"$f"; done
fi
for t in decode config eventsim_config; do
  printf 'fuzz-corpus.sh: %s: %s inputs in %s\n' "$t" "$(find "$out/$t" -type f | wc -l)" "$out/$t" >&2
done
