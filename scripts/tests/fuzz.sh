#!/usr/bin/env bash
# Time-boxed fuzzing of every cargo-fuzz target in fuzz/ (see docs/RELIABILITY.md,
# "Fuzzing"): builds them once with nightly + sanitizer coverage into their own cache,
# seeds the corpora (scripts/fuzz-corpus.sh), runs each target for a fixed time and
# fails on any crash, naming the input file and how to reproduce it.
#
#   scripts/tests/fuzz.sh                 every target, MUSICALY_FUZZ_SECS each
#   scripts/tests/fuzz.sh decode config   only these
#
# Environment:
#   MUSICALY_FUZZ_SECS        seconds per target (default 30; MUSICALY_LONG=1: 600)
#   MUSICALY_FUZZ_TARGET_DIR  build cache of the fuzz crate (default ~/.cache/musicaly/fuzz-target):
#                             a nightly sanitizer build, so not the release cache
#   MUSICALY_FUZZ_CORPUS      corpora, kept and grown between runs (default ~/.cache/musicaly/fuzz-corpus)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/musicaly"
default_secs=30
[[ ${MUSICALY_LONG:-0} == 1 ]] && default_secs=600
secs="${MUSICALY_FUZZ_SECS:-$default_secs}"
target_dir="${MUSICALY_FUZZ_TARGET_DIR:-$cache/fuzz-target}"
corpus="${MUSICALY_FUZZ_CORPUS:-$cache/fuzz-corpus}"
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(decode config eventsim_config)
log() { printf 'fuzz.sh: %s\n' "$*" >&2; }

command -v rustup >/dev/null && rustup toolchain list | grep -q '^nightly' ||
  { log "the nightly toolchain is needed (rustup toolchain install nightly)"; exit 1; }
cargo_fuzz="$(scripts/cargo-tool.sh cargo-fuzz)"
export PATH="$(dirname "$cargo_fuzz"):$PATH"

# The library links libduckdb.so (scripts/fetch-duckdb.sh); the fuzz binaries have
# no rpath to it (build.rs adds one to musicaly's own binaries only).
export LD_LIBRARY_PATH="${DUCKDB_LIB_DIR:-$root/.duckdb}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

started=$(date +%s)
cargo +nightly fuzz build --target-dir "$target_dir" >&2 ||
  { log "cargo fuzz build failed"; exit 1; }
log "built in $(( $(date +%s) - started )) s (load average $(cut -d ' ' -f 1-3 /proc/loadavg))"
scripts/fuzz-corpus.sh "$corpus"

failed=0
summary=()
for t in "${targets[@]}"; do
  out="$(mktemp)"
  dict=()
  [[ -f fuzz/dicts/$t.dict ]] && dict=("-dict=fuzz/dicts/$t.dict")
  mkdir -p "fuzz/artifacts/$t"
  log "$t: ${secs}s ..."
  # -timeout: one input taking 10 s is a hang, reported like a crash.
  if cargo +nightly fuzz run --target-dir "$target_dir" "$t" "$corpus/$t" -- \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    "${dict[@]}" >"$out" 2>&1; then
    result=ok
  else
    result=CRASH
    failed=1
    tail -n 60 "$out" >&2
    artifact="$(sed -n 's/.*Test unit written to \(.*\)/\1/p' "$out" | tail -n 1)"
    log "$t: crash input ${artifact:-(see above)}; reproduce: cargo +nightly fuzz run $t $artifact"
  fi
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$out" | tail -n 1)"
  summary+=("$(printf '%-16s %-6s %6ss %12s execs %6s corpus inputs' "$t" "$result" "$secs" "${execs:-?}" "$(find "$corpus/$t" -type f | wc -l)")")
  rm -f "$out"
done
for s in "${summary[@]}"; do log "$s"; done
log "done in $(( $(date +%s) - started )) s"
exit "$failed"
