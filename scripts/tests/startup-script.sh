#!/usr/bin/env bash
# Runs deploy/gcp/startup.sh.tftpl (rendered) as root in a private mount namespace with /etc
# and /var/cache overlaid (the host's files are never touched) and checks what it does:
#   first boot      installs the package, writes /etc/musicaly/musicaly.toml (root:musicaly 0640),
#                   enables and restarts the role's unit
#   second boot     nothing changed: no install, the unit only started
#   new package     installs it and restarts (the graceful restart of an upgrade)
#   bad config      exits 1, keeps the old config, touches no unit
#   serve role      also writes and enables musicaly-load.timer (systemd-analyze verify)
#   unknown role    exits 1
# The config check is the real binary's. Stand-ins, because their real counterparts cannot
# run here: the GCE metadata server and the package download (a `curl` and `gcloud` on
# PATH serving files), apt-get/dpkg-query (record the installed version: installing a
# package on the test machine is not an option) and systemctl (logs its calls: no systemd
# as PID 1 here).
#
#   scripts/tests/startup-script.sh        MUSICALY_BIN = the binary (default: release build)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
target="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/musicaly/target}"
bin="${MUSICALY_BIN:-$target/release/musicaly}"
fail() { echo "startup-script.sh: FAILED: $*" >&2; exit 1; }
[ -x "$bin" ] || fail "no musicaly binary at $bin"
[ "$(id -u)" = 0 ] || fail "needs root (a private mount namespace with /etc overlaid)"
command -v unshare > /dev/null || fail "unshare not found (util-linux)"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
sed -e "s|\${package_url}|https://packages.example/musicaly_1.0.0_amd64.deb|" -e 's/\$\${/${/g' \
  "$root/deploy/gcp/startup.sh.tftpl" > "$tmp/startup.sh"
grep -q 'package_url=.https://packages.example' "$tmp/startup.sh" || fail "could not render the template"

mkdir -p "$tmp/shims" "$tmp/md" "$tmp/state"
cat > "$tmp/shims/curl" <<'EOF'
#!/bin/bash
# Metadata server and package download stand-in.
out=""; url=""
while [ $# -gt 0 ]; do
  case "$1" in -o) out="$2"; shift ;; http*) url="$1" ;; esac
  shift
done
case "$url" in
  *computeMetadata/v1/instance/attributes/*) f="$FAKE_MD/${url##*/}"; [ -f "$f" ] || exit 22; cat "$f" ;;
  *.deb) cp "$FAKE_STATE/package.deb" "$out" ;;
  *) exit 6 ;;
esac
EOF
cat > "$tmp/shims/gcloud" <<'EOF'
#!/bin/bash
[ "$1 $2" = "storage cp" ] && cp "$FAKE_STATE/package.deb" "$4"
EOF
cat > "$tmp/shims/dpkg-deb" <<'EOF'
#!/bin/bash
# dpkg-deb -f DEB Version: the stand-in package file holds its version.
cat "$2"
EOF
cat > "$tmp/shims/dpkg-query" <<'EOF'
#!/bin/bash
cat "$FAKE_STATE/installed" 2> /dev/null || exit 1
EOF
cat > "$tmp/shims/apt-get" <<'EOF'
#!/bin/bash
echo "apt-get $*" >> "$FAKE_STATE/calls"
cp "${@: -1}" "$FAKE_STATE/installed"
EOF
cat > "$tmp/shims/systemctl" <<'EOF'
#!/bin/bash
echo "systemctl $*" >> "$FAKE_STATE/calls"
EOF
printf '#!/bin/bash\nexec %q "$@"\n' "$bin" > "$tmp/shims/musicaly"
chmod +x "$tmp/shims"/*

cp "$root/deploy/config/gcs-group-3vm.toml" "$tmp/md/musicaly-config"
echo pipeline > "$tmp/md/musicaly-role"
echo "1.0.0-1" > "$tmp/state/package.deb"

mkdir -p "$tmp/ov/etc-u" "$tmp/ov/etc-w" "$tmp/ov/cache-u" "$tmp/ov/cache-w"
# Everything below runs inside the namespace: /etc and /var/cache are copy-on-write there.
unshare --mount --propagation private env FAKE_MD="$tmp/md" FAKE_STATE="$tmp/state" T="$tmp" \
  PATH="$tmp/shims:$PATH" bash -euo pipefail -c '
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$T/ov/etc-u,workdir=$T/ov/etc-w" /etc
mount -t overlay overlay -o "lowerdir=/var/cache,upperdir=$T/ov/cache-u,workdir=$T/ov/cache-w" /var/cache
getent group musicaly > /dev/null || echo "musicaly:x:990:" >> /etc/group
fail() { echo "startup-script.sh: FAILED: $*" >&2; exit 1; }
boot() { : > "$FAKE_STATE/calls"; bash "$T/startup.sh" > "$T/boot.log" 2>&1; }
calls() { cat "$FAKE_STATE/calls"; }
conf=/etc/musicaly/musicaly.toml

boot || { cat "$T/boot.log"; fail "first boot"; }
calls | grep -q "^apt-get install .*--force-confold" || fail "first boot did not install the package"
cmp -s "$FAKE_MD/musicaly-config" "$conf" || fail "first boot did not write the config from metadata"
[ "$(stat -c "%U:%G %a" "$conf")" = "root:musicaly 640" ] || fail "config owner/mode $(stat -c "%U:%G %a" "$conf")"
calls | grep -q "^systemctl enable musicaly-pipeline.service" || fail "the unit was not enabled"
calls | grep -q "^systemctl restart musicaly-pipeline.service" || fail "the unit was not (re)started"

boot || { cat "$T/boot.log"; fail "second boot"; }
calls | grep -q "^apt-get" && fail "second boot reinstalled the same version"
calls | grep -q "restart" && fail "second boot restarted with nothing changed"
calls | grep -q "^systemctl start musicaly-pipeline.service" || fail "second boot did not start the unit"

echo "1.1.0-1" > "$FAKE_STATE/package.deb"
boot || { cat "$T/boot.log"; fail "upgrade boot"; }
calls | grep -q "^apt-get install" || fail "a new version was not installed"
calls | grep -q "^systemctl restart musicaly-pipeline.service" || fail "an upgrade did not restart the unit"

cp "$conf" "$T/good.toml"
printf "[lake]\ncompresion = \"zstd\"\n" > "$FAKE_MD/musicaly-config"
if boot; then fail "a boot with an invalid config succeeded"; fi
grep -q "metadata is invalid (above): kept" "$T/boot.log" || { cat "$T/boot.log"; fail "no message about the invalid config"; }
cmp -s "$T/good.toml" "$conf" || fail "an invalid config replaced the good one"
calls | grep -q "^systemctl" && fail "an invalid config touched the units"
cp "$T/good.toml" "$FAKE_MD/musicaly-config"

echo serve > "$FAKE_MD/musicaly-role"
boot || { cat "$T/boot.log"; fail "serve boot"; }
for u in musicaly-serve.service musicaly-load.timer; do
  calls | grep -q "^systemctl enable $u" || fail "serve role: $u not enabled"
done
[ -f /etc/systemd/system/musicaly-load.service ] && [ -f /etc/systemd/system/musicaly-load.timer ] \
  || fail "serve role: musicaly-load units not written"
if command -v systemd-analyze > /dev/null; then
  # verify wants the ExecStart binary: point it at the real one.
  sed "s|/usr/bin/musicaly|$(command -v musicaly)|" /etc/systemd/system/musicaly-load.service > "$T/musicaly-load.service"
  cp /etc/systemd/system/musicaly-load.timer "$T/musicaly-load.timer"
  systemd-analyze verify "$T/musicaly-load.service" "$T/musicaly-load.timer" > "$T/verify.log" 2>&1 \
    || { cat "$T/verify.log"; fail "systemd-analyze verify of the musicaly-load units"; }
  [ -s "$T/verify.log" ] && { cat "$T/verify.log"; fail "systemd-analyze verify warned"; }
fi

echo nonsense > "$FAKE_MD/musicaly-role"
if boot; then fail "an unknown role succeeded"; fi
grep -q "unknown musicaly-role" "$T/boot.log" || fail "no message about the unknown role"
'
echo "startup-script.sh: passed (first boot, unchanged boot, upgrade, invalid config, serve role, unknown role)"
