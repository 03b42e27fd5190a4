#!/usr/bin/env bash
# Single-node Apache Kafka 4.x broker (KRaft, combined broker+controller) for
# development and integration tests.
#
#   scripts/kafka.sh start                      fresh, empty broker; prints its bootstrap address on stdout
#   scripts/kafka.sh stop                       stop it and delete its data
#   scripts/kafka.sh status                     "running ..." (exit 0) / "not running ..." (exit 1)
#   scripts/kafka.sh restart                    bounce the broker process but KEEP its data (broker-restart tests)
#   scripts/kafka.sh topics-create NAME [PARTITIONS]   idempotent
#   scripts/kafka.sh run MAIN_CLASS [ARGS...]   run any Kafka CLI main class on the cached classpath, e.g.
#        scripts/kafka.sh run org.apache.kafka.tools.ConsoleProducer --bootstrap-server 127.0.0.1:9092 --topic t
#   scripts/kafka.sh secure-env                 (MUSICALY_KAFKA_SECURE=1) KEY=VALUE lines: the secure listeners,
#                                               CA, client certificate, SCRAM user and password file
#
# Environment:
#   MUSICALY_KAFKA_PORT             client listener port (default 9092)
#   MUSICALY_KAFKA_CONTROLLER_PORT  KRaft controller listener port (default PORT+1)
#   MUSICALY_KAFKA_PARTITIONS       num.partitions for auto-created topics, default for topics-create (default 4)
#   MUSICALY_KAFKA_STATE            pid/log/config/data dir (default ${TMPDIR:-/tmp}/musicaly-kafka-PORT)
#   MUSICALY_KAFKA_HEAP_OPTS        broker heap flags (default "-Xms256m -Xmx512m")
#   MUSICALY_KAFKA_START_TIMEOUT    seconds to wait for the broker to serve requests (default 90)
#   MUSICALY_KAFKA_STOP_TIMEOUT     seconds between SIGTERM and SIGKILL (default 30)
#   MUSICALY_KAFKA_SECURE=1         also listen with SASL_SSL (SCRAM-SHA-512) and SSL (client certificate
#                                   required), with a test CA, broker and client certificates (openssl) and
#                                   a SCRAM user (added at format time) made by `start` under STATE/secure
#   MUSICALY_KAFKA_SASL_SSL_PORT    SASL_SSL listener port (default PORT+2; only with MUSICALY_KAFKA_SECURE=1)
#   MUSICALY_KAFKA_SSL_PORT         SSL listener port (default PORT+3; only with MUSICALY_KAFKA_SECURE=1)
#
# Why this shape: dev machines and CI reach Maven Central but not the Apache
# download mirrors, so instead of the binary tarball we let Maven fetch the same
# jars (scripts/kafka/pom.xml) once into ${XDG_CACHE_HOME:-~/.cache}/musicaly/kafka-VERSION/
# and launch the broker's main classes with plain `java -cp`. Only java (17+) and
# mvn are needed, and mvn only on the first run. Everything binds 127.0.0.1.
#
# Progress goes to stderr; stdout carries only results (bootstrap address, status,
# output of `run`), so callers can do BOOTSTRAP=$(scripts/kafka.sh start).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
POM="$SCRIPT_DIR/kafka/pom.xml"

log() { printf 'kafka.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# The pom is the single place the version is pinned; the cache dir is keyed on it.
KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM" | head -n 1)"
[[ -n $KAFKA_VERSION ]] || die "cannot read <kafka.version> from $POM"

PORT="${MUSICALY_KAFKA_PORT:-9092}"
[[ $PORT =~ ^[0-9]+$ ]] || die "MUSICALY_KAFKA_PORT must be a number, got '$PORT'"
CONTROLLER_PORT="${MUSICALY_KAFKA_CONTROLLER_PORT:-$((PORT + 1))}"
[[ $CONTROLLER_PORT =~ ^[0-9]+$ && $CONTROLLER_PORT != "$PORT" ]] ||
  die "MUSICALY_KAFKA_CONTROLLER_PORT must be a number different from the client port, got '$CONTROLLER_PORT'"
PARTITIONS="${MUSICALY_KAFKA_PARTITIONS:-4}"
[[ $PARTITIONS =~ ^[1-9][0-9]*$ ]] || die "MUSICALY_KAFKA_PARTITIONS must be a positive number, got '$PARTITIONS'"
START_TIMEOUT="${MUSICALY_KAFKA_START_TIMEOUT:-90}"
STOP_TIMEOUT="${MUSICALY_KAFKA_STOP_TIMEOUT:-30}"
read -r -a HEAP_OPTS <<<"${MUSICALY_KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
BOOTSTRAP="127.0.0.1:$PORT"
SECURE="${MUSICALY_KAFKA_SECURE:-0}"
SASL_SSL_PORT="${MUSICALY_KAFKA_SASL_SSL_PORT:-$((PORT + 2))}"
SSL_PORT="${MUSICALY_KAFKA_SSL_PORT:-$((PORT + 3))}"
EXTRA_PORTS=()
if [[ $SECURE == 1 ]]; then
  [[ $SASL_SSL_PORT =~ ^[0-9]+$ && $SSL_PORT =~ ^[0-9]+$ ]] ||
    die "MUSICALY_KAFKA_SASL_SSL_PORT and MUSICALY_KAFKA_SSL_PORT must be numbers"
  EXTRA_PORTS=("$SASL_SSL_PORT" "$SSL_PORT")
fi

STATE_DIR="${MUSICALY_KAFKA_STATE:-${TMPDIR:-/tmp}/musicaly-kafka-$PORT}"
PID_FILE="$STATE_DIR/kafka.pid"
LOG_FILE="$STATE_DIR/kafka.log"
SERVER_PROPS="$STATE_DIR/server.properties"
BROKER_LOG4J="$STATE_DIR/log4j2.properties"
DATA_DIR="$STATE_DIR/data"
SECURE_DIR="$STATE_DIR/secure"
SCRAM_USER=musicaly

CACHE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/musicaly/kafka-$KAFKA_VERSION"
LIB_DIR="$CACHE_DIR/libs"
TOOLS_LOG4J="$CACHE_DIR/tools-log4j2.properties"

JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"
# Kafka CLI tools get a client-sized JVM with C1 only: they are short-lived and
# JVM start-up dominates their runtime.
TOOL_JAVA=("$JAVA" -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true
  -Dlog4j2.configurationFile="$TOOLS_LOG4J" -cp "$LIB_DIR/*")

# --- helpers -----------------------------------------------------------------

# Serialise start/stop/restart on one state dir: parallel test jobs may all call
# `start`, and the losers must see the winner's broker rather than race it for
# the ports. The lock fd (9) must not leak into the broker (see launch_broker),
# or the broker would hold the lock for its whole life.
take_state_lock() {
  mkdir -p "$STATE_DIR"
  command -v flock >/dev/null || return 0
  exec 9>"$STATE_DIR/lock"
  flock 9
}

check_java() {
  command -v "$JAVA" >/dev/null || die "java not found (Kafka $KAFKA_VERSION needs a Java 17+ JRE/JDK)"
  local major
  major="$("$JAVA" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1)"
  # "1.8.0" parses as 1, which correctly fails the check.
  [[ -n $major && $major -ge 17 ]] || die "Kafka $KAFKA_VERSION needs Java 17+, '$JAVA' is version ${major:-unknown}"
}

# Populate the jar cache once. The marker stores the pom's checksum so that
# editing the pom (exclusions, extra deps) refreshes the cache even when the
# Kafka version, and hence the cache dir, stays the same.
ensure_jars() {
  local marker="$LIB_DIR/.complete" want
  want="$(sha256sum "$POM" | cut -d ' ' -f 1)"
  if [[ ! -f $marker || "$(cat "$marker")" != "$want" ]]; then
    mkdir -p "$CACHE_DIR"
    # Separate lock (fd 8) because parallel jobs with different ports share the cache.
    if command -v flock >/dev/null; then exec 8>"$CACHE_DIR/.lock"; flock 8; fi
    if [[ ! -f $marker || "$(cat "$marker")" != "$want" ]]; then
      command -v mvn >/dev/null || die "mvn is needed once to download the Kafka $KAFKA_VERSION jars (apt-get install maven)"
      local tmp
      tmp="$(mktemp -d "$CACHE_DIR/libs.tmp.XXXXXX")"
      log "downloading Kafka $KAFKA_VERSION jars via Maven (first run only) into $LIB_DIR ..."
      # Copy into a temp dir and rename, so an interrupted download never
      # leaves a half-filled classpath that later runs would trust.
      # (sed: Debian's Maven 3.8 emits ANSI resets even with -q -B.)
      if ! mvn -q -B -Dstyle.color=never -f "$POM" dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$tmp" 2>&1 | sed 's/\x1b\[[0-9;]*m//g' >&2; then
        rm -rf "$tmp"
        die "mvn could not resolve the Kafka $KAFKA_VERSION jars (see output above)"
      fi
      printf '%s\n' "$want" >"$tmp/.complete"
      rm -rf "$LIB_DIR"
      mv "$tmp" "$LIB_DIR"
      log "cached $(find "$LIB_DIR" -name '*.jar' | wc -l) jars"
    fi
    if command -v flock >/dev/null; then exec 8>&-; fi
  fi
  write_tool_configs
}

# Written on every run (tiny) so a script update takes effect without wiping
# the cache; tmp+mv because parallel jobs may be reading it.
write_tool_configs() {
  local tmp
  tmp="$(mktemp "$CACHE_DIR/.cfg.XXXXXX")"
  # CLI tools: only warnings, to stderr, so their stdout stays machine-readable.
  cat >"$tmp" <<'EOF'
name=musicaly-kafka-tools
appender.err.type=Console
appender.err.name=STDERR
appender.err.target=SYSTEM_ERR
appender.err.layout.type=PatternLayout
appender.err.layout.pattern=[%d] %p %m (%c)%n
rootLogger.level=WARN
rootLogger.appenderRef.err.ref=STDERR
EOF
  mv -f "$tmp" "$TOOLS_LOG4J"
}

run_tool() { "${TOOL_JAVA[@]}" "$@"; }

port_open() {
  timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# Does a Kafka broker serve requests on PORT? Port-open is not enough: the
# broker binds its listener early but only processes requests once it has
# caught up with the controller and been unfenced, so early connections just
# hang. Instead send a raw Metadata v4 request (header v1, topics=null,
# allow_auto_topic_creation=false) over bash's /dev/tcp and require an answer
# that echoes our correlation id and lists at least one live broker. No JVM, so
# it can be polled every 250 ms; a JVM-based probe costs ~2 s per attempt.
# (v4 because Kafka 4.0 removed Metadata v0-v3; it is not flexible-encoded, so
# the bytes stay simple.)
kafka_answers() {
  local out
  local -a b
  # shellcheck disable=SC2016 # $1 is expanded by the inner bash
  out="$(timeout 3 bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    #       size=19         api=3   v=4     corr=7          client_id="live"  topics=null     auto=0
    printf "\x00\x00\x00\x13\x00\x03\x00\x04\x00\x00\x00\x07\x00\x04live\xff\xff\xff\xff\x00" >&3
    # response: size(4) correlation_id(4) throttle_time_ms(4) brokers.length(4) ...
    head -c 16 <&3 | od -An -v -tu1
  ' _ "$PORT" 2>/dev/null)" || return 1
  read -r -a b <<<"$out"
  ((${#b[@]} == 16)) || return 1
  [[ "${b[*]:4:4}" == "0 0 0 7" ]] || return 1
  (((b[12] << 24 | b[13] << 16 | b[14] << 8 | b[15]) >= 1))
}

# The pid file alone is not trusted: after a reboot or a crash the pid may
# belong to an unrelated process, and killing that would be bad. Require the
# command line to be kafka.Kafka with *this* state dir's config. A zombie has an
# empty cmdline, so it correctly counts as not running.
broker_pid() {
  [[ -f $PID_FILE ]] || return 1
  local pid
  pid="$(cat "$PID_FILE" 2>/dev/null)" || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  local cmdline
  cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
  [[ $cmdline == *kafka.Kafka\ "$SERVER_PROPS"* ]] || return 1
  printf '%s\n' "$pid"
}

random_cluster_id() {
  # Kafka cluster ids are 16 random bytes in unpadded URL-safe base64 (what
  # `kafka-storage random-uuid` prints); doing it here saves a JVM start.
  # A leading '-' would be parsed as a CLI flag, and Kafka's own generator
  # avoids it for the same reason.
  local id
  while :; do
    id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
    [[ $id != -* ]] && break
  done
  printf '%s\n' "$id"
}

write_broker_configs() {
  local listeners="PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT"
  local advertised="PLAINTEXT://127.0.0.1:$PORT" protocols="CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
  if [[ $SECURE == 1 ]]; then
    listeners+=",SASL_SSL://127.0.0.1:$SASL_SSL_PORT,SSL://127.0.0.1:$SSL_PORT"
    advertised+=",SASL_SSL://127.0.0.1:$SASL_SSL_PORT,SSL://127.0.0.1:$SSL_PORT"
    protocols+=",SASL_SSL:SASL_SSL,SSL:SSL"
  fi
  cat >"$SERVER_PROPS" <<EOF
# Generated by scripts/kafka.sh - dev/test only, single node, no security
# on PLAINTEXT (MUSICALY_KAFKA_SECURE=1 adds secured listeners below).
process.roles=broker,controller
node.id=1
# Static single-voter quorum: nothing to bootstrap or reconfigure, and a
# restart with the same data dir rejoins trivially.
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
controller.listener.names=CONTROLLER
listeners=$listeners
advertised.listeners=$advertised
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=$protocols
log.dirs=$DATA_DIR
auto.create.topics.enable=true
num.partitions=$PARTITIONS
default.replication.factor=1
min.insync.replicas=1
# Internal topics default to RF 3, which can never be satisfied on one node.
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# Fewer internal-topic partitions than the defaults (50) so the first consumer
# group / transaction on a fresh broker does not wait on creating 50 partitions.
offsets.topic.num.partitions=8
transaction.state.log.num.partitions=8
# Consumer groups in tests should get their assignment immediately, not after 3 s.
group.initial.rebalance.delay.ms=0
EOF
  if [[ $SECURE == 1 ]]; then
    cat >>"$SERVER_PROPS" <<EOF
# Secured listeners (MUSICALY_KAFKA_SECURE=1): test CA and certificates in $SECURE_DIR.
ssl.keystore.type=PKCS12
ssl.keystore.location=$SECURE_DIR/broker.p12
ssl.keystore.password=$(cat "$SECURE_DIR/broker-store.password")
ssl.key.password=$(cat "$SECURE_DIR/broker-store.password")
ssl.truststore.type=PEM
ssl.truststore.location=$SECURE_DIR/ca.pem
# SSL: mutual TLS (the client certificate is the identity); SASL_SSL: SCRAM over server-verified TLS.
listener.name.ssl.ssl.client.auth=required
listener.name.sasl_ssl.ssl.client.auth=none
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
EOF
  fi
  cat >"$BROKER_LOG4J" <<'EOF'
name=musicaly-kafka-broker
appender.out.type=Console
appender.out.name=STDOUT
appender.out.layout.type=PatternLayout
appender.out.layout.pattern=[%d] %p %m (%c)%n
rootLogger.level=INFO
rootLogger.appenderRef.out.ref=STDOUT
logger.request.name=kafka.request.logger
logger.request.level=WARN
EOF
}

# A throw-away CA, a broker certificate for 127.0.0.1/localhost in a PKCS12
# keystore, a client certificate, a second CA that signed nothing here (the
# "untrusted CA" of the tests) and the SCRAM user's password. Test material
# only: made fresh on every `start`, deleted by `stop`.
make_secure_material() {
  command -v openssl >/dev/null || die "openssl is needed for MUSICALY_KAFKA_SECURE=1 (apt-get install openssl)"
  rm -rf "$SECURE_DIR"
  mkdir -p "$SECURE_DIR"
  chmod 700 "$SECURE_DIR"
  local d="$SECURE_DIR"
  {
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=musicaly test CA" \
      -keyout "$d/ca.key" -out "$d/ca.pem"
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=musicaly untrusted CA" \
      -keyout "$d/other-ca.key" -out "$d/other-ca.pem"
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$d/broker.ext"
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout "$d/broker.key" -out "$d/broker.csr"
    openssl x509 -req -in "$d/broker.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
      -days 30 -extfile "$d/broker.ext" -out "$d/broker.pem"
    openssl req -newkey rsa:2048 -nodes -subj "/CN=$SCRAM_USER" -keyout "$d/client.key" -out "$d/client.csr"
    openssl x509 -req -in "$d/client.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
      -days 30 -out "$d/client.pem"
    openssl rand -hex 16 >"$d/broker-store.password"
    openssl pkcs12 -export -in "$d/broker.pem" -inkey "$d/broker.key" -certfile "$d/ca.pem" \
      -name broker -passout "file:$d/broker-store.password" -out "$d/broker.p12"
    # Hex: no character that --add-scram's [name=...,password=...] syntax would split on.
    openssl rand -hex 16 >"$d/$SCRAM_USER.password"
  } >"$d/openssl.log" 2>&1 || { cat "$d/openssl.log" >&2; die "openssl could not make the test certificates"; }
  chmod 600 "$d"/*.key "$d"/*.password
}

cmd_secure_env() {
  [[ $SECURE == 1 ]] || die "secure-env needs MUSICALY_KAFKA_SECURE=1 (and a broker started with it)"
  { [[ -f $SECURE_DIR/ca.pem && -f $SERVER_PROPS ]] && grep -q '^listener.name.sasl_ssl' "$SERVER_PROPS"; } ||
    die "no secured broker for $BOOTSTRAP (start it with MUSICALY_KAFKA_SECURE=1 $0 start)"
  cat <<EOF
SASL_SSL_BOOTSTRAP=127.0.0.1:$SASL_SSL_PORT
SSL_BOOTSTRAP=127.0.0.1:$SSL_PORT
CA_FILE=$SECURE_DIR/ca.pem
UNTRUSTED_CA_FILE=$SECURE_DIR/other-ca.pem
CLIENT_CERTIFICATE_FILE=$SECURE_DIR/client.pem
CLIENT_KEY_FILE=$SECURE_DIR/client.key
SCRAM_MECHANISM=SCRAM-SHA-512
SCRAM_USERNAME=$SCRAM_USER
SCRAM_PASSWORD_FILE=$SECURE_DIR/$SCRAM_USER.password
EOF
}

launch_broker() {
  local -a detach=()
  # setsid: the broker must outlive the caller's terminal / test harness
  # process group (Ctrl-C in the test run should not kill it mid-write).
  # Run from a non-leader bash, setsid execs in place, so $! is java's pid.
  command -v setsid >/dev/null && detach=(setsid)
  (
    # Close every inherited fd above 2: our lock fds (else the broker would
    # hold the state lock for life) and any pipe the caller passed down (a
    # test harness waiting for EOF on it would hang until the broker exits).
    for fd in "/proc/$BASHPID/fd/"*; do
      fd="${fd##*/}"
      if [[ $fd =~ ^[0-9]+$ ]] && ((fd > 2)); then eval "exec $fd>&-" 2>/dev/null || true; fi
    done
    exec nohup "${detach[@]}" "$JAVA" "${HEAP_OPTS[@]}" -server \
      -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
      -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true \
      -Dlog4j2.configurationFile="$BROKER_LOG4J" -Dkafka.logs.dir="$STATE_DIR" \
      -cp "$LIB_DIR/*" kafka.Kafka "$SERVER_PROPS" \
      >>"$LOG_FILE" 2>&1 </dev/null
  ) &
  # The subshell execs nohup -> setsid -> java in place, so this is java's pid.
  printf '%s\n' "$!" >"$PID_FILE"
}

show_log_tail() {
  log "last lines of $LOG_FILE:"
  tail -n 40 "$LOG_FILE" >&2 2>/dev/null || true
}

# Block until the broker serves metadata requests (see kafka_answers).
wait_until_ready() {
  local pid="$1" started=$SECONDS deadline=$((SECONDS + START_TIMEOUT))
  while ((SECONDS < deadline)); do
    if ! broker_pid >/dev/null; then
      log "broker process $pid exited during startup"
      show_log_tail
      return 1
    fi
    if kafka_answers; then
      log "Kafka $KAFKA_VERSION ready on $BOOTSTRAP (pid $pid, $((SECONDS - started)) s)"
      return 0
    fi
    sleep 0.25
  done
  log "broker did not accept requests within ${START_TIMEOUT}s"
  show_log_tail
  return 1
}

# SIGTERM triggers Kafka's controlled shutdown, which flushes and closes the
# logs cleanly, so `restart` comes back quickly with all acknowledged data.
# SIGKILL only if it hangs (then the next start has to run log recovery).
stop_process() {
  local pid
  pid="$(broker_pid)" || return 1
  log "stopping broker (pid $pid) ..."
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + STOP_TIMEOUT))
  while broker_pid >/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
  if broker_pid >/dev/null; then
    log "broker still alive after ${STOP_TIMEOUT}s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    deadline=$((SECONDS + 10))
    while broker_pid >/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
  fi
  rm -f "$PID_FILE"
  return 0
}

ensure_ports_free() {
  local p
  for p in "$PORT" "$CONTROLLER_PORT" "${EXTRA_PORTS[@]}"; do
    port_open "$p" && die "127.0.0.1:$p is already in use by another process (set MUSICALY_KAFKA_PORT / MUSICALY_KAFKA_CONTROLLER_PORT)"
  done
  return 0
}

# --- subcommands -------------------------------------------------------------

cmd_start() {
  take_state_lock
  local pid
  if pid="$(broker_pid)"; then
    log "already running on $BOOTSTRAP (pid $pid, state $STATE_DIR)"
    printf '%s\n' "$BOOTSTRAP"
    return 0
  fi
  check_java
  ensure_jars
  if port_open "$PORT"; then
    # e.g. started with another MUSICALY_KAFKA_STATE, or a broker from a
    # previous machine session whose pid file was wiped. Usable as-is; we just
    # don't own it, so `stop` here will not touch it.
    if kafka_answers; then
      log "a Kafka broker not managed by $STATE_DIR already answers on $BOOTSTRAP; using it"
      printf '%s\n' "$BOOTSTRAP"
      return 0
    fi
    die "127.0.0.1:$PORT is in use by something that is not a Kafka broker"
  fi
  ensure_ports_free

  # Always a fresh, empty cluster: tests must not see topics/offsets of an
  # earlier run (possibly one that crashed without `stop`).
  rm -rf "$DATA_DIR" "$PID_FILE"
  mkdir -p "$DATA_DIR"
  local -a scram=()
  if [[ $SECURE == 1 ]]; then
    make_secure_material
    scram=(--add-scram "SCRAM-SHA-512=[name=$SCRAM_USER,password=$(cat "$SECURE_DIR/$SCRAM_USER.password")]")
  fi
  write_broker_configs
  : >"$LOG_FILE"
  local cluster_id
  cluster_id="$(random_cluster_id)"
  log "formatting KRaft storage in $DATA_DIR (cluster id $cluster_id) ..."
  # Its chatter (bootstrap records) only matters when it fails.
  if ! run_tool kafka.tools.StorageTool format --config "$SERVER_PROPS" --cluster-id "$cluster_id" "${scram[@]}" \
    >"$STATE_DIR/format.log" 2>&1; then
    cat "$STATE_DIR/format.log" >&2
    die "kafka-storage format failed"
  fi
  log "starting Kafka $KAFKA_VERSION broker on $BOOTSTRAP (controller 127.0.0.1:$CONTROLLER_PORT, log $LOG_FILE) ..."
  launch_broker
  if ! wait_until_ready "$(cat "$PID_FILE")"; then
    stop_process >/dev/null 2>&1 || true
    die "Kafka failed to start (full log: $LOG_FILE)"
  fi
  printf '%s\n' "$BOOTSTRAP"
}

cmd_stop() {
  take_state_lock
  if ! stop_process; then
    rm -f "$PID_FILE"
    log "not running on $BOOTSTRAP (state $STATE_DIR)"
  fi
  # Keep kafka.log for post-mortems of a failed test run; the next start truncates it.
  rm -rf "$DATA_DIR" "$SERVER_PROPS" "$BROKER_LOG4J" "$STATE_DIR/format.log" "$SECURE_DIR"
  log "stopped; data removed"
}

cmd_restart() {
  take_state_lock
  if [[ ! -f $DATA_DIR/meta.properties || ! -f $SERVER_PROPS ]]; then
    die "no broker data in $STATE_DIR to restart from (use 'start' first)"
  fi
  if ! stop_process; then
    log "broker was not running; starting it on its existing data"
  fi
  check_java
  ensure_jars
  ensure_ports_free
  log "restarting Kafka $KAFKA_VERSION broker on $BOOTSTRAP with existing data ..."
  printf '\n===== restart %s =====\n' "$(date '+%F %T')" >>"$LOG_FILE"
  launch_broker
  if ! wait_until_ready "$(cat "$PID_FILE")"; then
    stop_process >/dev/null 2>&1 || true
    die "Kafka failed to restart (full log: $LOG_FILE)"
  fi
  printf '%s\n' "$BOOTSTRAP"
}

cmd_status() {
  local pid
  if pid="$(broker_pid)"; then
    # "running" means serving requests, not merely alive: the listener is
    # bound seconds before the broker is usable.
    if kafka_answers; then
      printf 'running: Kafka %s on %s (pid %s, state %s)\n' "$KAFKA_VERSION" "$BOOTSTRAP" "$pid" "$STATE_DIR"
      return 0
    fi
    printf 'not running: broker process %s exists but does not serve requests on %s yet (starting or shutting down)\n' "$pid" "$BOOTSTRAP"
    return 1
  fi
  printf 'not running: no broker for %s (state %s)\n' "$BOOTSTRAP" "$STATE_DIR"
  return 1
}

cmd_topics_create() {
  local name="${1:-}" parts="${2:-$PARTITIONS}"
  [[ -n $name ]] || die "usage: $0 topics-create NAME [PARTITIONS]"
  [[ $parts =~ ^[1-9][0-9]*$ ]] || die "PARTITIONS must be a positive number, got '$parts'"
  check_java
  ensure_jars
  kafka_answers || die "no Kafka broker answering on $BOOTSTRAP (run '$0 start' first)"
  # --if-not-exists makes re-runs no-ops. An existing topic keeps its
  # partition count even if PARTITIONS differs.
  run_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" \
    --create --if-not-exists \
    --topic "$name" --partitions "$parts" --replication-factor 1 >&2 ||
    die "could not create topic '$name'"
  log "topic '$name' present"
}

cmd_run() {
  [[ $# -ge 1 ]] || die "usage: $0 run MAIN_CLASS [ARGS...]"
  check_java
  ensure_jars
  run_tool "$@"
}

usage() {
  sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit "${1:-2}"
}

cmd="${1:-}"
[[ $# -gt 0 ]] && shift
case "$cmd" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  restart) cmd_restart ;;
  status) cmd_status ;;
  topics-create) cmd_topics_create "$@" ;;
  run) cmd_run "$@" ;;
  secure-env) cmd_secure_env ;;
  -h | --help | help) usage 0 ;;
  "") usage ;;
  *) log "unknown command '$cmd'"; usage ;;
esac
