#!/usr/bin/env bash
# Starts a real Kafka broker (the version the tests use, scripts/kafka/pom.xml) with the
# server.properties that deploy/gcp/broker.sh.tftpl writes on a broker VM, formatted with a
# cluster id made the way terraform makes it (random_id, 16 bytes, url-safe base64), and
# creates the four topics the way the script does. So a KRaft setting Kafka rejects fails
# here, not on a VM's first boot. Only the bind address differs: 127.0.0.1 instead of
# 0.0.0.0, on two free ports.
#
#   scripts/tests/broker-config.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
fail() { echo "broker-config.sh: FAILED: $*" >&2; exit 1; }
kafka() { "$root/scripts/kafka.sh" run "$@"; }   # a Kafka tool on the cached classpath

version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$root/scripts/kafka/pom.xml" | head -n 1)"
kafka org.apache.kafka.tools.TopicCommand --version > /dev/null 2>&1 || true   # fetches the jars once
lib="${XDG_CACHE_HOME:-$HOME/.cache}/musicaly/kafka-$version/libs"
[ -d "$lib" ] || fail "no Kafka $version jars in $lib (scripts/kafka.sh fetches them with mvn)"

tmp="$(mktemp -d)"
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2> /dev/null || true; wait "$pid" 2> /dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
read -r port cport cluster_id < <(python3 -c '
import base64, os, socket
ps = []
for _ in range(2):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); ps.append(s)
print(*[s.getsockname()[1] for s in ps], base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("="))')

# Render the template as terraform would (broker_count = 1), then run its properties
# heredoc and its min.insync.replicas line with this VM's values.
sed -e "s|\${cluster_id}|$cluster_id|g" -e "s|\${controller_voters}|0@127.0.0.1:$cport|g" \
  -e "s|\${kafka_port}|$port|g" -e "s|\${controller_port}|$cport|g" -e 's|\${partitions}|3|g' \
  -e 's|\${replication}|1|g' -e 's|\${retention_hours}|72|g' -e 's|\${kafka_tarball_url}|x|g' \
  -e 's/\$\${/${/g' "$root/deploy/gcp/broker.sh.tftpl" > "$tmp/broker.sh"
grep -q '\${[a-z_]*}' "$tmp/broker.sh" && fail "template variables left unrendered: $(grep -o '\${[a-z_]*}' "$tmp/broker.sh" | sort -u | tr '\n' ' ')"
props="$(sed -n '/^replication=/,/^PROPS$/p' "$tmp/broker.sh" | sed 's|^cat > "$home/config/musicaly-server.properties" <<PROPS$|cat <<PROPS|')"
[ -n "$props" ] || fail "cannot find the server.properties heredoc in broker.sh.tftpl"
node_id=0 host=127.0.0.1 data="$tmp/data" bash -c "$props" > "$tmp/server.properties"
sed -i 's|//0\.0\.0\.0:|//127.0.0.1:|g' "$tmp/server.properties"
grep -q "^advertised.listeners=PLAINTEXT://127.0.0.1:$port$" "$tmp/server.properties" || fail "advertised.listeners: $(cat "$tmp/server.properties")"

kafka kafka.tools.StorageTool format --config "$tmp/server.properties" --cluster-id "$cluster_id" > "$tmp/format.log" 2>&1 \
  || { cat "$tmp/format.log" >&2; fail "kafka-storage format rejected the config or the cluster id"; }
java -Xmx512m -XX:+UseSerialGC -Dkafka.logs.dir="$tmp" \
  -Dlog4j2.configurationFile="${XDG_CACHE_HOME:-$HOME/.cache}/musicaly/kafka-$version/tools-log4j2.properties" \
  -cp "$lib/*" kafka.Kafka "$tmp/server.properties" > "$tmp/broker.log" 2>&1 &
pid=$!
for _ in $(seq 1 120); do
  kill -0 "$pid" 2> /dev/null || { tail -40 "$tmp/broker.log" >&2; fail "the broker exited at start-up"; }
  kafka org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$port" --list > /dev/null 2>&1 && break
  sleep 1
done
for t in listen_events page_view_events auth_events status_change_events; do
  kafka org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$port" --create --if-not-exists \
    --topic "$t" --partitions 3 --replication-factor 1 > /dev/null 2> "$tmp/topics.log" \
    || { cat "$tmp/topics.log" "$tmp/broker.log" | tail -40 >&2; fail "creating topic $t"; }
done
desc="$(kafka org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$port" --describe --topic listen_events 2> /dev/null)"
echo "$desc" | grep -q "PartitionCount: 3" || fail "listen_events: $desc"
echo "broker-config.sh: Kafka $version started with broker.sh.tftpl's server.properties; four topics created"
