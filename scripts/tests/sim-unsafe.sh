#!/usr/bin/env bash
# The unsafe code that stays, checked by the tests that cover it: the encoder's
# unchecked copies (src/sim/encode.rs: `put_window`, `put_bytes`, `put_frag`, each
# writing past `len` with no capacity check after one reserve per line) and the
# scanner's SSE2 loads (src/event/scan.rs). Their tests run once more
#
#   - with debug assertions on: each unchecked copy first asserts its room
#     (`debug_assert!`), so a line whose reserve was too small panics in the test
#     that wrote it; and the `*_checks_its_room` tests, which exist only in such a
#     build, must pass (they prove the assertions are compiled in);
#   - under AddressSanitizer: any read or write out of an allocation by this
#     crate's code is an error, also where no assertion looks.
#
# Tests: the lib's `sim::` and `event::` unit tests, tests/sim_engine.rs (the
# simulator in-process and as a program) and tests/decode_scanner.rs (the scanner
# against serde on real, simulated and broken messages).
#
# What it costs: only this crate is compiled again, the dependencies are the
# release build's. Debug assertions come from a per-package override of the
# release profile given on the command line (a profile of its own would have its
# own directory and build every dependency again, ~15 minutes cold on 2 cores);
# ASan from a wrapper of this crate's rustc calls (scripts/tests/asan-rustc.sh;
# a nightly toolchain would also mean a second build of every dependency).
#
#   scripts/tests/sim-unsafe.sh
#   MUSICALY_SANITIZER=none scripts/tests/sim-unsafe.sh   debug assertions only
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/musicaly/target}"
checked=(--release --config 'profile.release.package.musicaly.debug-assertions=true')
case "${MUSICALY_SANITIZER:-address}" in
  address)
    export RUSTC_WORKSPACE_WRAPPER="$root/scripts/tests/asan-rustc.sh"
    # Leak checking is off: tests exit with threads and buffers alive on purpose
    # (the simulator forgets its tables at exit), and LeakSanitizer needs ptrace,
    # which containers often deny. halt_on_error: the first bad access fails.
    export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
    ;;
  none) ;;
  *) echo "sim-unsafe: MUSICALY_SANITIZER=${MUSICALY_SANITIZER}: allowed address, none" >&2; exit 2 ;;
esac
log="$(mktemp "${TMPDIR:-/tmp}/sim-unsafe.XXXXXX")"
trap 'rm -f "$log"' EXIT

started=$(date +%s)
cargo test "${checked[@]}" --lib -- sim:: event:: 2>&1 | tee "$log"
# short_benchmark asserts a speed, which a sanitized build does not have.
cargo test "${checked[@]}" --test sim_engine --test decode_scanner -- --skip short_benchmark 2>&1 | tee -a "$log"
# The guards were compiled in: these tests exist only with debug assertions.
for t in put_window put_bytes put_frag; do
  grep -q "sim::encode::tests::${t}_checks_its_room - should panic ... ok" "$log" || {
    echo "sim-unsafe: sim::encode::tests::${t}_checks_its_room did not run: debug assertions are off" >&2
    exit 1
  }
done
if [ -n "${RUSTC_WORKSPACE_WRAPPER:-}" ]; then
  # ... and so was ASan.
  exes=$(cargo test "${checked[@]}" --lib --test sim_engine --test decode_scanner --no-run \
    --message-format=json 2>/dev/null | python3 -c '
import json, sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        print(m["executable"])')
  for e in $exes; do
    grep -aq __asan_init "$e" || { echo "sim-unsafe: $e is not built with AddressSanitizer" >&2; exit 1; }
  done
fi
echo "sim-unsafe: passed with debug assertions${RUSTC_WORKSPACE_WRAPPER:+ and AddressSanitizer} in $(( $(date +%s) - started ))s"
