#!/usr/bin/env bash
# Dependency policy (deny.toml): licences, bans and sources, offline, with a pinned
# cargo-deny (scripts/cargo-tool.sh installs it once into ~/.cache/musicaly/bin).
# Advisories only against a local copy of the RustSec database, which this machine
# cannot fetch: with none, the check is skipped and says so (it does not fail).
#
#   scripts/tests/deny.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
deny="$(scripts/cargo-tool.sh cargo-deny)"
started=$(date +%s)
# Duplicate versions are warnings (see deny.toml); only errors fail.
"$deny" deny --offline --log-level error check licenses bans sources
echo "deny.sh: licenses, bans, sources ok ($(( $(date +%s) - started )) s)" >&2
db="${XDG_CACHE_HOME:-$HOME/.cache}/musicaly/advisory-db"
# What `cargo deny fetch db` leaves under deny.toml's db-path (one directory per
# database, e.g. advisory-db-3157b0e258782691), copied in from a connected machine.
if compgen -G "$db/*/crates" >/dev/null; then
  "$deny" deny --offline --log-level error check --disable-fetch advisories
  echo "deny.sh: advisories ok against the local RustSec database in $db" >&2
else
  echo "deny.sh: advisories NOT checked: no local RustSec database in $db (this machine cannot fetch it; run \`cargo deny fetch db\` where the network allows and copy $db here)" >&2
fi
