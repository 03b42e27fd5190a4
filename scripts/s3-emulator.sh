#!/usr/bin/env bash
# Starts/stops an S3 emulator (moto's server mode, from the virtualenv made by
# scripts/venv.sh) on 127.0.0.1, in memory, with the test bucket created.
#
#   scripts/s3-emulator.sh start|stop
# Environment: MUSICALY_S3_PORT (default 15000), MUSICALY_S3_BUCKET (default musicaly-test),
#              MUSICALY_VENV (the virtualenv).
set -euo pipefail
venv="${MUSICALY_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/musicaly/venv}"
port="${MUSICALY_S3_PORT:-15000}"
bucket="${MUSICALY_S3_BUCKET:-musicaly-test}"
state="${XDG_CACHE_HOME:-$HOME/.cache}/musicaly/s3-emulator-$port"
url="http://127.0.0.1:$port"
py="$venv/bin/python"

http() { # METHOD URL -> status code
  "$py" - "$1" "$2" <<'PY'
import sys, urllib.request, urllib.error
try:
    print(urllib.request.urlopen(urllib.request.Request(sys.argv[2], method=sys.argv[1]), timeout=2).status)
except urllib.error.HTTPError as e:
    print(e.code)
except Exception:
    print(0)
PY
}

case "${1:-}" in
  start)
    mkdir -p "$state"
    if [ -f "$state/pid" ] && kill -0 "$(cat "$state/pid")" 2>/dev/null; then
      kill "$(cat "$state/pid")" || true; sleep 0.5
    fi
    "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$state/log" 2>&1 &
    echo $! > "$state/pid"
    for _ in $(seq 1 50); do
      [ "$(http GET "$url/moto-api/")" = 200 ] && break
      sleep 0.2
    done
    code="$(http PUT "$url/$bucket")"
    [ "$code" = 200 ] || { echo "S3 emulator: creating bucket $bucket: HTTP $code; log:" >&2; cat "$state/log" >&2; exit 1; }
    echo "$url"
    ;;
  stop)
    if [ -f "$state/pid" ]; then kill "$(cat "$state/pid")" 2>/dev/null || true; rm -f "$state/pid"; fi
    ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
