#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what is missing, starts the
# services the tests need (a real Kafka broker, fake-gcs-server and an S3 emulator on 127.0.0.1, a
# Python virtualenv with dbt), runs formatting and
# lint checks and every test, and stops what it started.
#
#   scripts/test.sh                 everything (what CI runs)
#   scripts/test.sh -- NAME         extra arguments go to `cargo test` (e.g. a test filter);
#                                   ignored tests (those needing services) are included
#
# Environment:
#   CARGO_TARGET_DIR        build cache, default ~/.cache/musicaly/target (kept between runs)
#   MUSICALY_TEST_KAFKA_PORT  port of the test broker (default 19092, away from a dev broker on 9092)
#   MUSICALY_SKIP_LINT=1    skip rustfmt/clippy
#   MUSICALY_TEST_GCS_PORT  port of the test fake-gcs-server (default 14443)
#   MUSICALY_TEST_S3_PORT   port of the test S3 emulator (default 15000)
#   MUSICALY_VENV           the Python virtualenv (default ~/.cache/musicaly/venv, kept between runs)
#   MUSICALY_LONG=1         also run the long soaks and full benchmarks (not in CI)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
log() { printf '\n== test.sh: %s\n' "$*" >&2; }

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/musicaly/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
started=$(date +%s)

log "toolchain"
if ! command -v cargo >/dev/null; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then export PATH="$HOME/.cargo/bin:$PATH"; else
    echo "cargo not found: install Rust with rustup (https://rustup.rs) and re-run" >&2; exit 1; fi
fi
command -v java >/dev/null || { echo "java (17+) not found: apt-get install openjdk-17-jre-headless" >&2; exit 1; }
command -v mvn >/dev/null || [ -d "${XDG_CACHE_HOME:-$HOME/.cache}/musicaly" ] || { echo "mvn not found: apt-get install maven" >&2; exit 1; }
scripts/fetch-duckdb.sh

log "Kafka"
export MUSICALY_KAFKA_PORT="${MUSICALY_TEST_KAFKA_PORT:-19092}"
export MUSICALY_KAFKA_PARTITIONS="${MUSICALY_KAFKA_PARTITIONS:-4}"
export MUSICALY_KAFKA_SECURE=1  # SASL_SSL + SSL listeners too (tests/kafka_secure.rs)
cleanup() {
  scripts/kafka.sh stop >/dev/null 2>&1 || true
  scripts/fake-gcs.sh stop >/dev/null 2>&1 || true
  scripts/s3-emulator.sh stop >/dev/null 2>&1 || true
}
trap cleanup EXIT
scripts/kafka.sh start >/dev/null
export MUSICALY_TEST_KAFKA="127.0.0.1:$MUSICALY_KAFKA_PORT"

log "Python virtualenv (dbt-duckdb, dbt-bigquery, duckdb, pyarrow, fake-gcs-server)"
export MUSICALY_VENV="${MUSICALY_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/musicaly/venv}"
scripts/venv.sh "$MUSICALY_VENV"
export MUSICALY_DBT="$MUSICALY_VENV/bin/dbt"
export MUSICALY_PYTHON="$MUSICALY_VENV/bin/python"
export DBT_SEND_ANONYMOUS_USAGE_STATS=false

log "fake-gcs-server"
export MUSICALY_GCS_PORT="${MUSICALY_TEST_GCS_PORT:-14443}"
export MUSICALY_GCS_BUCKET="${MUSICALY_GCS_BUCKET:-musicaly-test}"
export MUSICALY_TEST_GCS="$(scripts/fake-gcs.sh start)"

log "S3 emulator (moto)"
export MUSICALY_S3_PORT="${MUSICALY_TEST_S3_PORT:-15000}"
export MUSICALY_S3_BUCKET="${MUSICALY_S3_BUCKET:-musicaly-test}"
export MUSICALY_TEST_S3="$(scripts/s3-emulator.sh start)"
# Tests that need Kafka fail (never skip) when this is set.
export MUSICALY_REQUIRE_SERVICES=1

log "house rules (imports one way, thin main, typed errors, one page of benchmarks)"
scripts/tests/house.sh

if [ "${MUSICALY_SKIP_LINT:-0}" != 1 ]; then
  log "rustfmt"
  cargo fmt --check
  log "clippy"
  cargo clippy --release --all-targets -- -D warnings
fi

log "build"
cargo build --release --all-targets
log "deploy/: terraform, example configs, Prometheus rules, Airflow DAG"; for t in terraform config-check prometheus airflow; do scripts/tests/$t.sh; done
log "tests"
# Tests that need a service, dbt or the fixtures are #[ignore = "needs ..."] so
# that a plain `cargo test` says what it did not run; here everything runs.
if [[ " $* " == *" -- "* ]]; then
  cargo test --release --no-fail-fast "$@" --include-ignored
else
  cargo test --release --no-fail-fast "$@" -- --include-ignored
fi
scripts/tests/sim.sh # simulator output md5s, its unsafe code under debug assertions + ASan, import cycles
scripts/tests/package.sh  # the Debian package: build, dpkg -x, run the extracted binary, rate the units
log "load test, short form (musicaly vs the Spark peer vs a bare consumer)"; scripts/tests/load.sh
log "dependency policy"; scripts/tests/deny.sh
# The fuzz crate's cold nightly build with sanitizer coverage took 47 minutes on
# these 2 cores: beyond CI's budget, so the time-boxed fuzzing runs with the long
# soaks (MUSICALY_LONG=1); every crash it found is a regression test in the suite.
if [ "${MUSICALY_LONG:-0}" = 1 ]; then scripts/tests/fuzz.sh; fi

scripts/tests/browser.sh  # the dashboard in Debian's chromium (installs it); writes docs/dashboard*.png
log "passed in $(( $(date +%s) - started ))s"
