"""musicaly's hourly warehouse build, for teams that orchestrate with Airflow (3.x).

The service already loads closed lake hours by itself (`warehouse.load_interval_secs`);
this DAG does the same under Airflow's schedule, retries and deadline alerts, and adds
the dbt project (warehouse/) on the target of your choice. One run per hour of data
(`data_interval_start` .. `data_interval_end`; a scheduled run's logical date is the hour's
start, a manual run at time T takes the last complete hour before T):

  wait_for_hour_closed   a sensor (reschedule mode): the hour is over by
                         `musicaly_close_delay_secs` (default 900 s: the lake closes an
                         hour's files `lake.hour_close_secs` = 300 s after it, or at the
                         latest `lake.file_max_age_secs` = 600 s after they opened, and
                         the stream's lateness is 300 s) and its directory
                         <lake>/listen_events/year=/month=/day=/hour=/ holds Parquet files
  load_hour              `musicaly load --hour T` (idempotent: a retry replaces the hour)
  dbt_build              `dbt build --vars '{hours: [T]}'` on the chosen target
                         (bigquery: incremental, replaces that hour's partitions;
                         duckdb: its models are tables, so by default the whole lake is
                         rebuilt, in seconds; `musicaly_dbt_scope = hour` builds the hour only)

Settings: an Airflow Variable wins, else the environment of the scheduler/worker, else the
default. Variables are read when a task runs, never when the file is parsed.

  Variable / env                         default
  musicaly_bin / MUSICALY_BIN            /usr/bin/musicaly
  musicaly_config / MUSICALY_CONFIG      /etc/musicaly/musicaly.toml if it exists, else none
  musicaly_data_dir / MUSICALY_DATA_DIR  /var/lib/musicaly
  musicaly_lake / MUSICALY_LAKE          <data dir>/lake (a local path or gs://BUCKET/PREFIX)
  musicaly_dbt / MUSICALY_DBT            dbt (on PATH)
  musicaly_dbt_project / MUSICALY_DBT_PROJECT   warehouse/ of the checkout this file is in
  musicaly_dbt_target / MUSICALY_DBT_TARGET     duckdb (or bigquery: MUSICALY_BQ_* env as in docs/BIGQUERY.md)
  musicaly_dbt_db / MUSICALY_DBT_DB      <data dir>/dbt.duckdb (duckdb target)
  musicaly_dbt_scope / MUSICALY_DBT_SCOPE       auto (hour on bigquery, all on duckdb), hour, all
  musicaly_close_delay_secs / MUSICALY_CLOSE_DELAY_SECS  900

The service and this DAG must not both load the same DuckDB file: with Airflow in charge,
set `warehouse.enabled = false` in the service's config (the lake is unaffected).
Backfill older hours with `airflow backfill create --dag-id musicaly_hourly --from-date ... --to-date ...`.
"""

from __future__ import annotations

import logging
import os
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.sensors.python import PythonSensor
from airflow.sdk import DAG, Variable
from airflow.sdk.definitions.callback import SyncCallback
from airflow.sdk.definitions.deadline import DeadlineAlert, DeadlineReference
from airflow.timetables.interval import CronDataIntervalTimetable

log = logging.getLogger(__name__)

_HERE = Path(__file__).resolve().parent
_REPO_WAREHOUSE = _HERE.parent.parent / "warehouse"


def _default_config() -> str:
    path = "/etc/musicaly/musicaly.toml"
    return path if os.path.exists(path) else ""


# Parse-time defaults come from the environment only (no metadata-database access).
DEFAULTS = {
    "musicaly_bin": os.environ.get("MUSICALY_BIN", "/usr/bin/musicaly"),
    "musicaly_config": os.environ.get("MUSICALY_CONFIG", _default_config()),
    "musicaly_data_dir": os.environ.get("MUSICALY_DATA_DIR", "/var/lib/musicaly"),
    "musicaly_lake": os.environ.get("MUSICALY_LAKE", ""),
    "musicaly_dbt": os.environ.get("MUSICALY_DBT", "dbt"),
    "musicaly_dbt_project": os.environ.get("MUSICALY_DBT_PROJECT", str(_REPO_WAREHOUSE)),
    "musicaly_dbt_target": os.environ.get("MUSICALY_DBT_TARGET", "duckdb"),
    "musicaly_dbt_db": os.environ.get("MUSICALY_DBT_DB", ""),
    "musicaly_dbt_scope": os.environ.get("MUSICALY_DBT_SCOPE", "auto"),
    "musicaly_close_delay_secs": os.environ.get("MUSICALY_CLOSE_DELAY_SECS", "900"),
}


def setting(name: str) -> str:
    """An Airflow Variable, else the environment's default (call only while a task runs)."""
    return str(Variable.get(name, default=DEFAULTS[name]))


def lake_root() -> str:
    return setting("musicaly_lake") or os.path.join(setting("musicaly_data_dir"), "lake")


def hour_dir(lake: str, hour: datetime, table: str = "listen_events") -> str:
    """The lake's directory of one hour, as the writer names it (src/sinks/lake.rs)."""
    return f"{lake.rstrip('/')}/{table}/{hour:year=%Y/month=%m/day=%d/hour=%H}"


def hour_has_files(directory: str) -> bool:
    if directory.startswith("gs://"):
        bucket, _, prefix = directory[len("gs://") :].partition("/")
        try:
            from google.cloud import storage  # the Google provider's dependency

            blobs = storage.Client().list_blobs(bucket, prefix=prefix + "/", max_results=50)
            return any(b.name.endswith(".parquet") for b in blobs)
        except ImportError:
            out = subprocess.run(
                ["gcloud", "storage", "ls", directory + "/"], capture_output=True, text=True, check=False
            )
            return out.returncode == 0 and ".parquet" in out.stdout
    if "://" in directory:
        raise ValueError(f"musicaly_lake {directory!r}: the sensor reads local paths and gs:// only")
    path = Path(directory)
    return path.is_dir() and any(p.suffix == ".parquet" for p in path.iterdir())


def hour_closed(data_interval_start: datetime, data_interval_end: datetime, **_) -> bool:
    """True once the hour is over by the close delay and its lake directory has files."""
    delay = timedelta(seconds=int(setting("musicaly_close_delay_secs")))
    now = datetime.now(timezone.utc)
    if now < data_interval_end + delay:
        log.info("hour %s closes at %s (now %s)", data_interval_start, data_interval_end + delay, now)
        return False
    directory = hour_dir(lake_root(), data_interval_start)
    if not hour_has_files(directory):
        log.info("no Parquet files in %s yet", directory)
        return False
    log.info("hour %s is closed: %s has files", data_interval_start, directory)
    return True


def deadline_missed(context=None, **kwargs) -> None:
    """Deadline alert: the hour's warehouse is late. Route it by replacing this function
    (or wrap it: log shippers pick up this error line)."""
    dag_run = (context or {}).get("dag_run")
    log.error("musicaly_hourly missed its deadline: run %s is not done", getattr(dag_run, "run_id", dag_run))


# Templates evaluated when a task runs: Variables win over the environment.
def var(name: str) -> str:
    return "{{ var.value.get('%s', %r) }}" % (name, DEFAULTS[name])


HOUR_ISO = "{{ data_interval_start.strftime('%Y-%m-%dT%H:00:00') }}"
HOUR_DBT = "{{ data_interval_start.strftime('%Y-%m-%d %H:00:00') }}"

LOAD = r"""
set -euo pipefail
args=(load --data-dir "$MUSICALY_DATA_DIR" --hour "$HOUR")
if [ -n "$MUSICALY_CONFIG" ]; then args+=(--config "$MUSICALY_CONFIG"); fi
if [ -n "$MUSICALY_LAKE_OVERRIDE" ]; then export MUSICALY__LAKE__PATH="$MUSICALY_LAKE_OVERRIDE"; fi
echo "musicaly ${args[*]}"
exec "$MUSICALY_BIN" "${args[@]}"
"""

DBT = r"""
set -euo pipefail
scope="$MUSICALY_DBT_SCOPE"
if [ "$scope" = auto ]; then
  if [ "$MUSICALY_DBT_TARGET" = bigquery ]; then scope=hour; else scope=all; fi
fi
case "$scope" in
  hour) vars="{hours: [\"$HOUR\"]}" ;;
  all) vars="{hours: []}" ;;
  *) echo "musicaly_dbt_scope '$scope': allowed auto, hour, all" >&2; exit 2 ;;
esac
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export DBT_LOG_PATH="$work/logs" DBT_SEND_ANONYMOUS_USAGE_STATS=false
echo "dbt build --target $MUSICALY_DBT_TARGET --vars $vars"
"$MUSICALY_DBT" build --project-dir "$MUSICALY_DBT_PROJECT" --profiles-dir "$MUSICALY_DBT_PROJECT" \
  --target-path "$work/target" --target "$MUSICALY_DBT_TARGET" --no-use-colors --vars "$vars"
"""

default_args = {
    "owner": "musicaly",
    # Every step is idempotent (an hour loaded or built again replaces itself): retry freely.
    "retries": 3,
    "retry_delay": timedelta(minutes=5),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=30),
}

with DAG(
    dag_id="musicaly_hourly",
    description="Per lake hour: wait until it is closed, musicaly load --hour, dbt build for it",
    schedule=CronDataIntervalTimetable("0 * * * *", timezone="UTC"),
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    # Enabling the DAG runs only from now on; older hours: `airflow backfill create`.
    catchup=False,
    # The DuckDB warehouse has one writer at a time; hours may also run in any order.
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=4),
    # The SLA: an hour's warehouse is built within 3 hours of the hour's start (2 h after
    # it closed); otherwise deadline_missed is called.
    deadline=DeadlineAlert(
        reference=DeadlineReference.DAGRUN_LOGICAL_DATE,
        interval=timedelta(hours=3),
        callback=SyncCallback(deadline_missed),
    ),
    default_args=default_args,
    tags=["musicaly"],
    doc_md=__doc__,
) as dag:
    wait = PythonSensor(
        task_id="wait_for_hour_closed",
        python_callable=hour_closed,
        mode="reschedule",
        poke_interval=60,
        timeout=int(timedelta(hours=3).total_seconds()),
        # A sensor that times out is not retried: the deadline alert has already fired.
        retries=0,
    )

    load = BashOperator(
        task_id="load_hour",
        bash_command=LOAD,
        env={
            "HOUR": HOUR_ISO,
            "MUSICALY_BIN": var("musicaly_bin"),
            "MUSICALY_CONFIG": var("musicaly_config"),
            "MUSICALY_DATA_DIR": var("musicaly_data_dir"),
            "MUSICALY_LAKE_OVERRIDE": var("musicaly_lake"),
        },
        append_env=True,
        execution_timeout=timedelta(minutes=30),
    )

    build = BashOperator(
        task_id="dbt_build",
        bash_command=DBT,
        env={
            "HOUR": HOUR_DBT,
            "MUSICALY_DBT": var("musicaly_dbt"),
            "MUSICALY_DBT_PROJECT": var("musicaly_dbt_project"),
            "MUSICALY_DBT_TARGET": var("musicaly_dbt_target"),
            "MUSICALY_DBT_SCOPE": var("musicaly_dbt_scope"),
            # dbt's profiles.yml reads these (duckdb target).
            "MUSICALY_LAKE": "{{ var.value.get('musicaly_lake', %r) or (var.value.get('musicaly_data_dir', %r) ~ '/lake') }}"
            % (DEFAULTS["musicaly_lake"], DEFAULTS["musicaly_data_dir"]),
            "MUSICALY_DBT_DB": "{{ var.value.get('musicaly_dbt_db', %r) or (var.value.get('musicaly_data_dir', %r) ~ '/dbt.duckdb') }}"
            % (DEFAULTS["musicaly_dbt_db"], DEFAULTS["musicaly_data_dir"]),
        },
        append_env=True,
        execution_timeout=timedelta(hours=1),
    )

    wait >> load >> build
