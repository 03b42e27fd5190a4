#!/usr/bin/env bash
# Installs the Spark peer of the load test (load_tests/spark/peer.py) into a cache,
# once: a virtualenv with pyspark 4.2.0 and the Kafka connector's four jars, resolved
# with Maven (load_tests/spark/pom.xml) so that spark-submit gets them with --jars and
# never runs Ivy. Idempotent: reinstalls only when the pins below or the pom change.
#
#   load_tests/spark/install.sh          prints the install dir on stdout
#
# Environment:
#   MUSICALY_SPARK_HOME   install dir (default ${XDG_CACHE_HOME:-~/.cache}/musicaly/spark)
#
# Why pyspark 4.2.0: it runs on this machine's Java 17, and 4.3.0's Kafka connector
# is not on Maven Central. Layout: <dir>/venv (pyspark), <dir>/jars/*.jar.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dir="${MUSICALY_SPARK_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/musicaly/spark}"
pyspark_version=4.2.0
log() { printf 'spark install: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

mkdir -p "$dir"
want="$( (echo "pyspark==$pyspark_version"; cat "$here/pom.xml") | sha256sum | cut -d' ' -f1)"
stamp="$dir/.complete"
if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && [ -x "$dir/venv/bin/spark-submit" ]; then
  echo "$dir"; exit 0
fi
# One installer at a time (the suite and a developer may start together).
if command -v flock >/dev/null; then exec 8>"$dir/.lock"; flock 8; fi
if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && [ -x "$dir/venv/bin/spark-submit" ]; then
  echo "$dir"; exit 0
fi
command -v java >/dev/null || die "java (17+) not found: apt-get install openjdk-17-jre-headless"
command -v mvn >/dev/null || die "mvn is needed once to fetch the Kafka connector jars: apt-get install maven"
command -v python3 >/dev/null || die "python3 not found: apt-get install python3 python3-venv"

if [ ! -x "$dir/venv/bin/spark-submit" ] || ! "$dir/venv/bin/python" -c "import pyspark,sys; sys.exit(pyspark.__version__ != '$pyspark_version')" 2>/dev/null; then
  log "creating the virtualenv with pyspark $pyspark_version in $dir/venv (first run only, ~400 MB)"
  rm -rf "$dir/venv"
  python3 -m venv "$dir/venv" || die "cannot create a virtualenv: apt-get install python3-venv"
  "$dir/venv/bin/pip" install --quiet --disable-pip-version-check "pyspark==$pyspark_version" \
    || die "pip could not install pyspark==$pyspark_version"
fi

log "resolving the Kafka connector jars with Maven into $dir/jars"
tmp="$(mktemp -d "$dir/jars.tmp.XXXXXX")"
# (sed: Debian's Maven 3.8 emits ANSI resets even with -q -B.)
if ! mvn -q -B -Dstyle.color=never -f "$here/pom.xml" dependency:copy-dependencies \
  -DoutputDirectory="$tmp" 2>&1 | sed 's/\x1b\[[0-9;]*m//g' >&2; then
  rm -rf "$tmp"; die "mvn could not resolve the connector jars (see above)"
fi
n="$(find "$tmp" -name '*.jar' | wc -l)"
[ "$n" -eq 4 ] || { rm -rf "$tmp"; die "expected 4 jars, Maven gave $n"; }
rm -rf "$dir/jars"; mv "$tmp" "$dir/jars"
printf '%s\n' "$want" >"$stamp"
log "installed: $(ls "$dir/jars" | tr '\n' ' ')"
echo "$dir"
