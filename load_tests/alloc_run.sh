#!/usr/bin/env bash
# Wall time, CPU and peak RSS of the in-process pipeline
# (`musicaly run -n 10000 -s 2026-11-01 -e 2026-11-03`: simulate, decode,
# lake, warehouse, report) for several builds of the binary (e.g. one per
# allocator feature), interleaved over rounds.
#
#   load_tests/alloc_run.sh ROUNDS NAME=BINARY [NAME=BINARY ...]
set -euo pipefail
rounds=$1
shift
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for round in $(seq 1 "$rounds"); do
  for spec in "$@"; do
    name=${spec%%=*} bin=${spec#*=}
    status=0
    RUST_LOG=warn /usr/bin/time -v "$bin" run -n 10000 -s 2026-11-01 -e 2026-11-03 -r 1 \
      --data-dir "$work/data" >"$work/out" 2>"$work/time" || status=$?
    rss=$(awk -F': ' '/Maximum resident set size/ {print int($2/1024)}' "$work/time")
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/time")
    cpu=$(awk -F': ' '/User time/ {u=$2} /System time/ {s=$2} END {printf "%.1f", u+s}' "$work/time")
    echo "$name round $round: wall $wall, cpu ${cpu} s, peak RSS ${rss} MiB, exit $status"
    rm -rf "$work/data"
  done
done
