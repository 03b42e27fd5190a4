#!/usr/bin/env bash
# Tests the Airflow DAG (deploy/airflow/musicaly_hourly.py) with a real Airflow from PyPI:
# the DAG imports without errors, and `airflow dags test` runs one hour of a small
# `musicaly run` lake through it (sensor, `musicaly load --hour`, `dbt build` on DuckDB);
# then the service's warehouse holds exactly that hour and dbt's models hold that hour's listens.
#
# Airflow lives in its own virtualenv (${XDG_CACHE_HOME:-~/.cache}/musicaly/airflow-venv,
# about 40 s and 290 MB once). Needs: the release binary (MUSICALY_BIN, default
# $CARGO_TARGET_DIR/release/musicaly) and the project venv's dbt and python (MUSICALY_DBT,
# MUSICALY_PYTHON, as scripts/test.sh sets them).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/musicaly"
target="${CARGO_TARGET_DIR:-$cache/target}"
bin="${MUSICALY_BIN:-$target/release/musicaly}"
venv="${MUSICALY_VENV:-$cache/venv}"
dbt="${MUSICALY_DBT:-$venv/bin/dbt}"
py="${MUSICALY_PYTHON:-$venv/bin/python}"
fail() { echo "airflow.sh: FAILED: $*" >&2; exit 1; }
[ -x "$bin" ] || fail "no musicaly binary at $bin (cargo build --release --bin musicaly)"
[ -x "$dbt" ] || fail "no dbt at $dbt (scripts/venv.sh)"

af_version=3.3.2
afv="$cache/airflow-venv"
if [ "$(cat "$afv/.musicaly-airflow" 2>/dev/null)" != "$af_version" ]; then
  echo "airflow.sh: installing apache-airflow $af_version into $afv (once)" >&2
  rm -rf "$afv"
  python3 -m venv "$afv"
  "$afv/bin/pip" install --quiet --disable-pip-version-check "apache-airflow==$af_version"
  echo "$af_version" > "$afv/.musicaly-airflow"
fi
airflow="$afv/bin/airflow"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
export AIRFLOW_HOME="$tmp/airflow" AIRFLOW__CORE__DAGS_FOLDER="$root/deploy/airflow" \
  AIRFLOW__CORE__LOAD_EXAMPLES=False AIRFLOW__CORE__UNIT_TEST_MODE=False NO_COLOR=1
mkdir -p "$AIRFLOW_HOME"

# One day of 200 users; the DAG's load has to rebuild the warehouse, so drop the one `run` made.
data="$tmp/data"
"$bin" run -n 200 -s 2026-11-06T00:00:00 -e 2026-11-07T00:00:00 -r 15 --data-dir "$data" > "$tmp/run.log" 2>&1 \
  || { cat "$tmp/run.log" >&2; fail "musicaly run"; }
rm -f "$data/warehouse.duckdb"

"$airflow" db migrate > "$tmp/migrate.log" 2>&1 || { cat "$tmp/migrate.log" >&2; fail "airflow db migrate"; }
# (the CLI prints a graphviz warning on stdout before the JSON: keep the last line)
errors="$("$airflow" dags list-import-errors --local -o json 2>/dev/null | tail -n 1)"
[ "$errors" = "[]" ] || fail "the DAG has import errors: $errors"
"$airflow" dags list --local -o plain 2>/dev/null | grep -q '^musicaly_hourly ' || fail "musicaly_hourly is not among the DAGs"

# The sensor's two conditions, one at a time: files in the hour's directory, and time past
# the hour's end + the close delay (an hour that has files but is not over yet stays open).
MUSICALY_DATA_DIR="$data" MUSICALY_CLOSE_DELAY_SECS=900 "$afv/bin/python" - "$root/deploy/airflow" "$tmp/lake-now" <<'PY' > "$tmp/sensor.log" 2>&1 \
  || { cat "$tmp/sensor.log" >&2; fail "the sensor's hour_closed() is wrong"; }
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import musicaly_hourly as m
h = timedelta(hours=1)
t = datetime(2026, 11, 6, 13, tzinfo=timezone.utc)
assert m.hour_closed(t, t + h), "an hour of the data, long over, is closed"
empty = datetime(2026, 11, 8, tzinfo=timezone.utc)
assert not m.hour_closed(empty, empty + h), "an hour without files is not closed"
now = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
d = Path(m.hour_dir(sys.argv[2], now))
d.mkdir(parents=True)
(d / "listen_events-000-0.parquet").write_bytes(b"")
m.DEFAULTS["musicaly_lake"] = sys.argv[2]  # as MUSICALY_LAKE would set it
assert m.lake_root() == sys.argv[2]
assert not m.hour_closed(now, now + h), "the current hour is not closed, even with files"
assert m.hour_closed(now - 2 * h, now - h) is False, "no files for that hour in this lake"
PY
echo "airflow.sh: the sensor waits for files and for the hour's end + close delay"

# A run covers its data interval [data_interval_start, +1h): a manual run (what `dags test`
# makes) at logical date T gets the last complete hour before T, so 14:00 loads 13:00.
hour="2026-11-06T13:00:00"
export MUSICALY_BIN="$bin" MUSICALY_CONFIG="" MUSICALY_DATA_DIR="$data" MUSICALY_DBT="$dbt" \
  MUSICALY_DBT_TARGET=duckdb MUSICALY_DBT_SCOPE=hour MUSICALY_DBT_DB="$tmp/dbt.duckdb" \
  MUSICALY_DBT_PROJECT="$root/warehouse" MUSICALY_CLOSE_DELAY_SECS=900
log="$tmp/dags-test.log"
rc=0
"$airflow" dags test musicaly_hourly 2026-11-06T14:00:00+00:00 > "$log" 2>&1 || rc=$?
show() { tail -80 "$log" >&2; }
for t in wait_for_hour_closed load_hour dbt_build; do
  grep -q "end task task_id=$t " "$log" || { show; fail "task $t did not run to its end"; }
done
grep -q "musicaly load --data-dir $data --hour $hour" "$log" || { show; fail "load_hour did not load $hour"; }
grep -q "Completed successfully" "$log" || { show; fail "dbt build did not complete"; }
grep -Eq "Marking run <DagRun musicaly_hourly .* successful" "$log" || { show; fail "the DAG run did not succeed"; }
if [ "$rc" != 0 ]; then
  # Airflow 3.3.2's `dags test` crashes after a successful run of any DAG with a deadline
  # (apache/airflow#73428: DeadlineAlertModel.get_by_id given the in-memory alert, a dict);
  # the scheduler's path is not affected. Accept exactly that failure, nothing else.
  grep -q "deadline_alert.py" "$log" && grep -q "'dict' object has no attribute 'hex'" "$log" \
    || { show; fail "airflow dags test exited $rc"; }
  echo "airflow.sh: dags test exited $rc after the run succeeded: the known deadline-pruning bug (apache/airflow#73428)"
fi

"$py" - "$data" "$tmp/dbt.duckdb" "$hour" <<'PY'
import sys, duckdb
data, dbt_db, hour = sys.argv[1:]
hour = hour.replace("T", " ")
c = duckdb.connect()
c.execute("SET TimeZone = 'UTC'")
lake = c.execute(
    f"SELECT count(*) FROM read_parquet('{data}/lake/listen_events/*/*/*/*/*.parquet') "
    f"WHERE date_trunc('hour', ts) = timestamptz '{hour}+00'").fetchone()[0]
c.execute(f"ATTACH '{data}/warehouse.duckdb' AS svc (READ_ONLY)")
c.execute(f"ATTACH '{dbt_db}' AS dbt (READ_ONLY)")
svc_hours = c.execute("SELECT count(DISTINCT date_trunc('hour', ts)), count(*) FROM svc.main.listen_events").fetchone()
svc_facts = c.execute("SELECT count(*) FROM svc.main.fact_streams").fetchone()[0]
dbt_facts = c.execute("SELECT count(*) FROM dbt.main.fact_streams").fetchone()[0]
models = {r[0] for r in c.execute("SELECT table_name FROM information_schema.tables WHERE table_catalog = 'dbt'").fetchall()}
print(f"airflow.sh: hour {hour}: lake {lake} listens; service warehouse {svc_hours[1]} listens in {svc_hours[0]} hour(s), "
      f"{svc_facts} facts; dbt {dbt_facts} facts, {len(models)} models")
assert lake > 0, "the test hour has no listens: pick another hour"
assert svc_hours == (1, lake), f"musicaly load --hour loaded {svc_hours}, want (1 hour, {lake} listens)"
assert svc_facts == lake, (svc_facts, lake)
assert dbt_facts == lake, f"dbt fact_streams has {dbt_facts} rows, want the hour's {lake}"
missing = {"dim_users", "dim_songs", "dim_artists", "dim_location", "dim_datetime", "fact_streams",
           "wide_streams", "fact_sessions", "agg_streams_hourly"} - models
assert not missing, f"dbt did not build {missing}"
PY
echo "airflow.sh: passed (DAG imports; dags test loaded and built hour $hour)"
