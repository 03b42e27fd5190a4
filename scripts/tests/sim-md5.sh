#!/usr/bin/env bash
# The simulator's output, byte for byte: md5s of a fixed set of `musicaly simulate`
# runs (both dialects, 1 and 2 threads, growth and a tag, eventsim's own data files,
# stdout, another fixture config, the built-in config) against the baseline in
# scripts/tests/sim-md5.txt. A change that should not change the output (a
# refactoring, an optimisation) must leave every line the same; one that changes it
# on purpose records a new baseline (--record) in the same commit and says so.
#
#   scripts/tests/sim-md5.sh              build the binary, compare with the baseline
#   scripts/tests/sim-md5.sh --record     build the binary, rewrite the baseline
#   MUSICALY_BIN=path scripts/tests/sim-md5.sh   use this binary instead of building
#
# Needs the fixtures (../shared/fixtures/eventsim, or MUSICALY_FIXTURES). Takes
# about 20 s on an idle 2-core machine; the outputs (~150 MB) go to a temporary
# directory, removed at the end.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
baseline="$root/scripts/tests/sim-md5.txt"
fixtures="${MUSICALY_FIXTURES:-$root/../shared/fixtures}/eventsim"
record=0
[ "${1:-}" = --record ] && record=1
[ -d "$fixtures" ] || { echo "sim-md5: fixtures missing at $fixtures (set MUSICALY_FIXTURES)" >&2; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/sim-md5.XXXXXX")"
trap 'rm -rf "$work"' EXIT

bin="${MUSICALY_BIN:-}"
if [ -z "$bin" ]; then
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/musicaly/target}"
  cargo build --release --bin musicaly >&2
  # The target directory may be shared with other checkouts, which link their own
  # binary at the same path: copy ours at once and check it is ours (its line
  # tables name this checkout's directory).
  # Laid out as the package is (bin/ and lib/musicaly/), so the binary's rpath
  # ($ORIGIN/../lib/musicaly) finds libduckdb.so beside it.
  mkdir -p "$work/bin" "$work/lib/musicaly"
  cp "$CARGO_TARGET_DIR/release/musicaly" "$work/bin/musicaly"
  cp -L "$CARGO_TARGET_DIR/lib/musicaly/libduckdb.so" "$work/lib/musicaly/"
  bin="$work/bin/musicaly"
  grep -aq "$root" "$bin" || {
    echo "sim-md5: $CARGO_TARGET_DIR/release/musicaly was rebuilt from another checkout meanwhile; run again" >&2
    exit 1
  }
fi

cfg="$fixtures/example-config.json"
week=(-s 2026-11-02T00:00:00 -e 2026-11-09T00:00:00)
out="$work/md5"
: >"$out"
# One run: NAME, then the arguments of `musicaly simulate`; it writes to $work/o
# (a directory, a file, or with --stdout its standard output).
run() {
  local name="$1" kind=file
  shift
  rm -rf "$work/o"
  if [[ " $* " == *" --stdout "* ]]; then
    kind=stdout
    "$bin" simulate "$@" >"$work/o" 2>"$work/err" || fail "$name"
  else
    "$bin" simulate "$@" "$work/o" 2>"$work/err" || fail "$name"
  fi
  if [ -d "$work/o" ]; then
    (cd "$work/o" && find . -type f | LC_ALL=C sort | while read -r f; do
      md5sum "$f" | sed "s|  \./|  $name |"; done) >>"$out"
  else
    md5sum "$work/o" | sed "s|  .*|  $name $kind|" >>"$out"
  fi
}
fail() { cat "$work/err" >&2; echo "sim-md5: run $1 failed" >&2; exit 1; }

for t in 1 2; do
  run "week-t$t" -c "$cfg" -n 3000 "${week[@]}" --threads "$t"
  run "single-t$t" -c "$cfg" -n 3000 "${week[@]}" --threads "$t" --format single
  run "growth-tag-t$t" -c "$cfg" -n 2000 "${week[@]}" --threads "$t" -g 0.5 --tag 'x"y'
  run "datadir-t$t" -c "$cfg" -n 2000 "${week[@]}" --threads "$t" --data-dir "$fixtures/data"
  run "odd-end-t$t" -c "$cfg" -n 5000 -s 2026-11-02T00:00:00 -e 2026-11-02T13:37:21 -g 0.3 --threads "$t"
done
run "week20k-t1" -c "$cfg" -n 20000 "${week[@]}" --threads 1
run "week20k-t2" -c "$cfg" -n 20000 "${week[@]}" --threads 2 --format single
run "newyear" -c "$cfg" -n 7 -s 2026-12-25 -e 2027-01-08
run "stdout-four" -c "$cfg" -n 1000 "${week[@]}" --stdout
run "stdout-single" -c "$cfg" -n 1000 "${week[@]}" --stdout --format single
run "accordion-single-t2" -c "$fixtures/Accordion-config.json" -n 2000 "${week[@]}" --threads 2 --format single
run "builtin-u1m" -n 2000 -u 1000000 -r 5 "${week[@]}"

if [ "$record" = 1 ]; then
  {
    echo "# md5 of musicaly simulate outputs (scripts/tests/sim-md5.sh --record)"
    cat "$out"
  } >"$baseline"
  echo "sim-md5: recorded $(wc -l <"$out") md5s in $baseline"
  exit 0
fi
[ -f "$baseline" ] || { echo "sim-md5: no baseline at $baseline (run with --record)" >&2; exit 1; }
if ! diff <(grep -v '^#' "$baseline") "$out" >"$work/diff"; then
  echo "sim-md5: the simulator's output changed (< baseline, > now):" >&2
  cat "$work/diff" >&2
  exit 1
fi
echo "sim-md5: $(wc -l <"$out") outputs byte-identical to the baseline"
