#!/usr/bin/env bash
# The house rules that keep the tree readable, checked on every run of the suite
# (issue 13): imports run one way, main.rs stays the CLI only, errors are types,
# no second build of the line writers, one page of benchmarks.
set -euo pipefail
cd "$(dirname "$0")/../.."
fail=0
bad() { echo "house: $*" >&2; fail=1; }

# The sinks are downstream of the actors: they share types through crate::messages.
if grep -rnE 'crate::actors|super::super::actors' src/sinks; then
  bad "src/sinks imports src/actors (use crate::messages for the types stages share)"
fi
lines=$(wc -l < src/main.rs)
[ "$lines" -lt 450 ] || bad "src/main.rs has $lines lines (limit 450): move the work into the library"
# Errors are types: no Result<_, String> in the library, the binary or the benches.
if grep -rnE 'Result<[^;{]*, String>' src load_tests --include=*.rs | grep -v '^\s*//'; then
  bad "Result<_, String> above: give the error a type (thiserror) that says who is to blame"
fi
if grep -rniE 'avx2|target_feature' src --include=*.rs; then
  bad "an AVX2/target-feature build above: removed in issue 13 (it never paid in wall time)"
fi
lines=$(wc -l < docs/BENCHMARKS.md)
[ "$lines" -lt 400 ] || bad "docs/BENCHMARKS.md has $lines lines (limit 400): current figures only, history stays in git"
python3 scripts/tests/import-cycles.py || bad "import cycle between files (above)"
[ "$fail" = 0 ] && echo "house: ok"
exit "$fail"
