#!/usr/bin/env bash
# The simulator's own checks, beyond `cargo test --release` (scripts/test.sh runs this):
#
#   1. the simulator's output byte-identical to the recorded baseline (sim-md5.sh);
#   2. the unsafe code that stays, checked by its tests: the encoder's unchecked
#      copies (src/sim/encode.rs) and the scanner's SSE2 loads (src/event/scan.rs).
#      Their tests (the lib's `sim::` and `event::` unit tests, tests/sim_engine.rs,
#      tests/decode_scanner.rs) run once more with debug assertions on (so every
#      unchecked copy first checks its room: `debug_assert!` in `put_window`,
#      `put_bytes`, `put_frag`) and under AddressSanitizer (an out-of-bounds read or
#      write is an error even where no assertion looks). Only this crate is rebuilt
#      for it: debug assertions by a per-package override of the release profile,
#      ASan by a wrapper of this crate's rustc calls; the dependencies are the
#      release build's, unchanged (see sim-unsafe.sh);
#
#   scripts/tests/sim.sh
#
# Environment:
#   CARGO_TARGET_DIR         as for scripts/test.sh
#   MUSICALY_SANITIZER=none  skip AddressSanitizer (debug assertions still run)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/musicaly/target}"
log() { printf '\n== sim.sh: %s\n' "$*" >&2; }

log "simulator output against the md5 baseline"
scripts/tests/sim-md5.sh

log "unsafe code: tests with debug assertions and AddressSanitizer"
scripts/tests/sim-unsafe.sh

