#!/usr/bin/env bash
# Creates (or updates) the Python virtualenv with the tools the tests use: dbt
# (duckdb and bigquery adapters), duckdb, pyarrow and fake-gcs-server. Reused
# between runs: reinstalls only when the requirement files change.
#
#   scripts/venv.sh [DIR]     default ${MUSICALY_VENV:-${XDG_CACHE_HOME:-~/.cache}/musicaly/venv}
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${1:-${MUSICALY_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/musicaly/venv}}"
req="$root/scripts/requirements-dev.txt"
con="$root/scripts/python-constraints.txt"
stamp="$venv/.musicaly-requirements"
want="$(cat "$req" "$con" | sha256sum | cut -d' ' -f1)"
if [ -x "$venv/bin/dbt" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  exit 0
fi
command -v python3 >/dev/null || { echo "python3 not found: apt-get install python3 python3-venv" >&2; exit 1; }
python3 -m venv "$venv" || { echo "cannot create a virtualenv: apt-get install python3-venv" >&2; exit 1; }
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req" -c "$con"
echo "$want" > "$stamp"
