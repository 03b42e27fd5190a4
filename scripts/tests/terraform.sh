#!/usr/bin/env bash
# Validates deploy/gcp (terraform) with a real HCL toolchain:
#   1. `tofu fmt -check -recursive` (OpenTofu built from the Go module proxy, cached);
#   2. check_terraform.py (python-hcl2): references, templates, least-privilege IAM,
#      firewalls, instances; and its unit tests (it must fail on broken copies);
#   3. the startup scripts, rendered with sample values, pass `bash -n`;
#   4. the config the VMs get (musicaly.toml.tftpl rendered) passes `musicaly config check`;
#   5. the startup script's boots (install, config, units, upgrade, bad config): startup-script.sh;
#   6. a real Kafka broker starts with the properties broker.sh.tftpl writes: broker-config.sh.
# `tofu validate` is not run: it needs the google provider, which cannot be fetched here.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/musicaly"
fail() { echo "terraform.sh: FAILED: $*" >&2; exit 1; }

tofu="$(scripts/tests/tofu.sh)"
# No ~/.terraformrc needed (tofu warns without a CLI config file).
export TF_CLI_CONFIG_FILE="$cache/tofu/tofurc"
[ -f "$TF_CLI_CONFIG_FILE" ] || : > "$TF_CLI_CONFIG_FILE"
"$tofu" fmt -check -recursive -diff deploy/gcp || fail "tofu fmt: run \`$tofu fmt -recursive deploy/gcp\`"
echo "terraform.sh: tofu fmt -check OK ($("$tofu" version | head -n 1))"

# python-hcl2 and its dependencies, pinned, in a virtualenv of their own.
hv="$cache/hcl-venv"
pins="python-hcl2==8.1.4 lark==1.3.1 regex==2026.11.19"
if [ "$(cat "$hv/.musicaly-pins" 2>/dev/null)" != "$pins" ]; then
  rm -rf "$hv"
  python3 -m venv "$hv"
  # shellcheck disable=SC2086
  "$hv/bin/pip" install --quiet --disable-pip-version-check $pins
  echo "$pins" > "$hv/.musicaly-pins"
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$hv/bin/python" scripts/tests/check_terraform.py deploy/gcp --render-config "$tmp/gcp-vm.toml" \
  || fail "check_terraform.py found problems (above)"
out="$("$hv/bin/python" -m unittest scripts/tests/test_check_terraform.py 2>&1)" \
  || { echo "$out" >&2; fail "check_terraform.py's unit tests"; }
echo "terraform.sh: check_terraform.py unit tests: $(echo "$out" | grep -E '^Ran ')"

"$hv/bin/python" - deploy/gcp "$tmp" <<'PY'
import re, sys
from pathlib import Path
src, out = Path(sys.argv[1]), Path(sys.argv[2])
sample = {"package_url": "gs://acme-packages/musicaly_1.0.0_amd64.deb", "cluster_id": "MkU3OEVBNTcwNTJENDM2Qk",
          "controller_voters": "0@b0.z.c.p.internal:9093", "kafka_tarball_url": "https://example.org/kafka.tgz",
          "kafka_port": "9092", "controller_port": "9093", "partitions": "12", "replication": "1", "retention_hours": "72"}
for t in ("startup.sh.tftpl", "broker.sh.tftpl"):
    text = (src / t).read_text()
    text = re.sub(r"(?<!\$)\$\{\s*(\w+)\s*\}", lambda m: sample[m.group(1)], text).replace("$${", "${")
    (out / t.replace(".tftpl", "")).write_text(text)
PY
for s in startup.sh broker.sh; do bash -n "$tmp/$s" || fail "deploy/gcp/$s.tftpl rendered is not valid bash"; done
if command -v shellcheck > /dev/null; then   # Debian's shellcheck, when installed
  shellcheck -S warning "$tmp/startup.sh" "$tmp/broker.sh" || fail "shellcheck of the rendered startup scripts"
fi
echo "terraform.sh: startup scripts pass bash -n$(command -v shellcheck > /dev/null && echo ' and shellcheck')"

scripts/tests/config-check.sh "$tmp/gcp-vm.toml"
scripts/tests/startup-script.sh
scripts/tests/broker-config.sh
echo "terraform.sh: passed"
