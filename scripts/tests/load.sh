#!/usr/bin/env bash
# Short form of the load-test comparison (load_tests/load_test): musicaly, the Spark
# peer and the bare consumer on the same events through the suite's broker, one run
# each at a low fixed rate. Asserts only that it wrote a well-formed result with a
# row for each of the three (the figures of a shared CI machine are not asserted).
# MUSICALY_LONG=1 runs the long form (interleaved repetitions, ramps, Spark's 120 s
# trigger) instead.
#
#   scripts/tests/load.sh            needs MUSICALY_TEST_KAFKA (set by scripts/test.sh)
#
# Environment: MUSICALY_TEST_KAFKA (host:port of the broker), CARGO_TARGET_DIR,
# MUSICALY_LOAD_OUT (keep the result there instead of a temp dir).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
: "${MUSICALY_TEST_KAFKA:?MUSICALY_TEST_KAFKA is not set: run scripts/test.sh, or export it (host:port of a broker)}"
target="${CARGO_TARGET_DIR:-$root/target}"
cargo build --release --bin musicaly --bin load-test >&2
load_tests/spark/install.sh >/dev/null
out="${MUSICALY_LOAD_OUT:-$(mktemp -d)}"
long=()
if [ "${MUSICALY_LONG:-0}" = 1 ]; then long=(--long); fi
"$target/release/load-test" compare --brokers "$MUSICALY_TEST_KAFKA" --out "$out" \
  --rate 1000 --secs 30 --pool 60000 --backlog 100000 --users 500 "${long[@]}"
python3 - "$out/load-compare.json" "$out/load-compare.svg" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
rows = {row["system"]: row for row in r["summary"]}
missing = {"musicaly", "spark", "bare"} - rows.keys()
assert not missing, f"no summary row for {missing}"
for s in ("musicaly", "spark", "bare"):
    assert isinstance(rows[s]["sustained_rate"], (int, float)) and rows[s]["sustained_rate"] > 0, (s, rows[s])
for s in ("musicaly", "spark"):
    runs = [x for x in r["runs"] if x["system"] == s]
    assert runs, f"no {s} run"
    for x in runs:
        assert x["produced"] > 0 and x["lake"]["latency"]["count"] > 0, (s, x["label"])
        assert x["samples"]["t_s"], (s, "no samples")
assert r["bare"] and r["machine"]["nproc"] >= 1
svg = open(sys.argv[2]).read()
assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
print("load.sh: result well formed:", {s: rows[s]["sustained_rate"] for s in rows})
PY
