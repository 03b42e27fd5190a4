#!/usr/bin/env bash
# Checks deploy/prometheus/musicaly-rules.yml with promtool (built once from the Go module
# proxy into ${XDG_CACHE_HOME:-~/.cache}/musicaly/promtool): `promtool check rules` and the
# alert unit tests `promtool test rules musicaly-rules.test.yml`; and that every musicaly_
# metric the rules use is one the binary exports (src/metrics.rs).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root/deploy/prometheus"
version="${MUSICALY_PROMTOOL_VERSION:-v0.316.0}"   # the Go module of Prometheus 3.x
cache="${XDG_CACHE_HOME:-$HOME/.cache}/musicaly/promtool"
promtool="$cache/promtool-$version"
fail() { echo "prometheus.sh: FAILED: $*" >&2; exit 1; }
if [ ! -x "$promtool" ]; then
  command -v go > /dev/null || fail "go not found: install Go to build promtool"
  echo "prometheus.sh: building promtool $version (once, several minutes)" >&2
  mkdir -p "$cache"
  GOBIN="$cache/bin" go install "github.com/prometheus/prometheus/cmd/promtool@$version"
  mv "$cache/bin/promtool" "$promtool"
fi
"$promtool" check rules musicaly-rules.yml || fail "promtool check rules"
"$promtool" test rules musicaly-rules.test.yml || fail "promtool test rules"
for m in $(grep -o 'musicaly_[a-z0-9_]*' musicaly-rules.yml | sort -u); do
  grep -q "$m" "$root/src/metrics.rs" || fail "the rules use $m, which src/metrics.rs does not export"
done
echo "prometheus.sh: passed"
