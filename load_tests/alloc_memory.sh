#!/usr/bin/env bash
# Peak RSS and wall time of `musicaly pipeline` under the memory-bound test's
# load (tests/kafka_memory_bound.rs: a ~750 k-message backlog, 4 partitions,
# pipeline.memory_limit_mb = 256, every lake write delayed 20 ms), for several
# builds of the binary (e.g. one per allocator feature), interleaved over
# rounds so that the machine's load falls on all of them.
#
#   MUSICALY_KAFKA_PORT=37092 scripts/kafka.sh start
#   load_tests/alloc_memory.sh 127.0.0.1:37092 ROUNDS NAME=BINARY [NAME=BINARY ...]
#
# Prints one line per run: name, round, peak RSS (MiB, /usr/bin/time -v),
# elapsed seconds, user+sys CPU seconds, exit status, the pipeline's summary.
set -euo pipefail
brokers=$1 rounds=$2
shift 2
first=${1#*=}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix="allocmem$$"
backlog=(-n 30000 -s 2026-11-06T00:00:00 -e 2026-11-06T12:00:00 -r 31)
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
port=${brokers##*:}
topics=()
for t in page_view_events listen_events auth_events status_change_events; do
  MUSICALY_KAFKA_PORT=$port "$here/scripts/kafka.sh" topics-create "$prefix.$t" 4 >/dev/null 2>&1
  topics+=("\"$prefix.$t\"")
done
RUST_LOG=warn "$first" simulate "${backlog[@]}" -k "$brokers" --topic-prefix "$prefix." >/dev/null 2>&1
for round in $(seq 1 "$rounds"); do
  for spec in "$@"; do
    name=${spec%%=*} bin=${spec#*=}
    data="$work/$name-$round"
    cfg="$work/$name-$round.toml"
    cat >"$cfg" <<TOML
[data]
dir = "$data"
[lake]
file_max_age_secs = 1
[web]
listen = "127.0.0.1:0"
[pipeline]
batch_max_age_ms = 300
memory_limit_mb = 256
write_delay_ms = 20
[warehouse]
enabled = false
[kafka]
brokers = "$brokers"
group_id = "g-$prefix-$name-$round"
topics = [$(IFS=,; echo "${topics[*]}")]
[kafka.properties]
"session.timeout.ms" = "6000"
"heartbeat.interval.ms" = "500"
TOML
    status=0
    RUST_LOG=warn /usr/bin/time -v "$bin" pipeline --config "$cfg" --idle-exit 5 \
      >"$work/out" 2>"$work/time" || status=$?
    rss=$(awk -F': ' '/Maximum resident set size/ {print int($2/1024)}' "$work/time")
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/time")
    cpu=$(awk -F': ' '/User time/ {u=$2} /System time/ {s=$2} END {printf "%.1f", u+s}' "$work/time")
    rows=$(grep -o "pipeline stopped: [0-9]* messages in" "$work/time" | head -1 || true)
    echo "$name round $round: peak RSS ${rss} MiB, wall $wall, cpu ${cpu} s, exit $status; $rows"
    rm -rf "$data"
  done
done
