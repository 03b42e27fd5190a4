#!/usr/bin/env bash
# Starts a real Kafka broker (the version the tests use, scripts/kafka/pom.xml) with the
# server.properties that deploy/gcp/broker.sh.tftpl writes on a broker VM, formatted with a
# cluster id made the way terraform makes it (random_id, 16 bytes, url-safe base64), and
# creates the four topics the way the script does. So a KRaft setting Kafka rejects fails
# here, not on a VM's first boot. Only the addresses differ: 127.0.0.1 and two free ports
# per broker instead of 0.0.0.0 and each VM's DNS name.
#
#   scripts/tests/broker-config.sh     three brokers (MUSICALY_TEST_BROKERS=1: one)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
fail() { echo "broker-config.sh: FAILED: $*" >&2; exit 1; }
kafka() { "$root/scripts/kafka.sh" run "$@"; }   # a Kafka tool on the cached classpath

version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$root/scripts/kafka/pom.xml" | head -n 1)"
kafka org.apache.kafka.tools.TopicCommand --version > /dev/null 2>&1 || true   # fetches the jars once
lib="${XDG_CACHE_HOME:-$HOME/.cache}/musicaly/kafka-$version/libs"
[ -d "$lib" ] || fail "no Kafka $version jars in $lib (scripts/kafka.sh fetches them with mvn)"

# Brokers: 3 by default, the production shape (a KRaft quorum, replication 3,
# min.insync.replicas 2); MUSICALY_TEST_BROKERS=1 for a trial's single broker.
n="${MUSICALY_TEST_BROKERS:-3}"
replication=$((n < 3 ? n : 3))   # compute.tf: min(broker_count, 3)
tmp="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2> /dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2> /dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
# Two free ports per broker, and a cluster id as terraform's random_id (16 bytes) b64_url.
read -r -a ports < <(python3 -c '
import socket, sys
ss = [socket.socket() for _ in range(2 * int(sys.argv[1]))]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])' "$n")
cluster_id="$(python3 -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("="))')"
voters=""
for i in $(seq 0 $((n - 1))); do voters="$voters${voters:+,}$i@127.0.0.1:${ports[$((2 * i + 1))]}"; done
bootstrap="127.0.0.1:${ports[0]}"

for i in $(seq 0 $((n - 1))); do
  port="${ports[$((2 * i))]}" cport="${ports[$((2 * i + 1))]}" dir="$tmp/broker-$i"
  mkdir -p "$dir"
  # Render the template as terraform would, then run its properties heredoc (and the
  # min.insync.replicas line before it) with this VM's values.
  sed -e "s|\${cluster_id}|$cluster_id|g" -e "s|\${controller_voters}|$voters|g" \
    -e "s|\${kafka_port}|$port|g" -e "s|\${controller_port}|$cport|g" -e 's|\${partitions}|3|g' \
    -e "s|\${replication}|$replication|g" -e 's|\${retention_hours}|72|g' -e 's|\${kafka_tarball_url}|x|g' \
    -e 's/\$\${/${/g' "$root/deploy/gcp/broker.sh.tftpl" > "$dir/broker.sh"
  if grep -q '\${[a-z_]*}' "$dir/broker.sh"; then
    fail "template variables left unrendered: $(grep -o '\${[a-z_]*}' "$dir/broker.sh" | sort -u | tr '\n' ' ')"
  fi
  props="$(sed -n '/^replication=/,/^PROPS$/p' "$dir/broker.sh" | sed 's|^cat > "$home/config/musicaly-server.properties" <<PROPS$|cat <<PROPS|')"
  [ -n "$props" ] || fail "cannot find the server.properties heredoc in broker.sh.tftpl"
  node_id=$i host=127.0.0.1 data="$dir/data" bash -c "$props" > "$dir/server.properties"
  sed -i 's|//0\.0\.0\.0:|//127.0.0.1:|g' "$dir/server.properties"
  grep -q "^advertised.listeners=PLAINTEXT://127.0.0.1:$port$" "$dir/server.properties" \
    || fail "advertised.listeners: $(cat "$dir/server.properties")"
  kafka kafka.tools.StorageTool format --config "$dir/server.properties" --cluster-id "$cluster_id" > "$dir/format.log" 2>&1 \
    || { cat "$dir/format.log" >&2; fail "kafka-storage format rejected the config or the cluster id"; }
  java -Xmx512m -XX:+UseSerialGC -Dkafka.logs.dir="$dir" \
    -Dlog4j2.configurationFile="${XDG_CACHE_HOME:-$HOME/.cache}/musicaly/kafka-$version/tools-log4j2.properties" \
    -cp "$lib/*" kafka.Kafka "$dir/server.properties" > "$dir/broker.log" 2>&1 &
  pids+=($!)
done
ready=0
for _ in $(seq 1 120); do
  for i in "${!pids[@]}"; do
    kill -0 "${pids[$i]}" 2> /dev/null || { tail -40 "$tmp/broker-$i/broker.log" >&2; fail "broker $i exited at start-up"; }
  done
  if kafka org.apache.kafka.tools.TopicCommand --bootstrap-server "$bootstrap" --list > /dev/null 2>&1; then ready=1; break; fi
  sleep 1
done
[ "$ready" = 1 ] || { tail -40 "$tmp/broker-0/broker.log" >&2; fail "the brokers did not serve within 2 minutes"; }
for t in listen_events page_view_events auth_events status_change_events; do
  kafka org.apache.kafka.tools.TopicCommand --bootstrap-server "$bootstrap" --create --if-not-exists \
    --topic "$t" --partitions 3 --replication-factor "$replication" > /dev/null 2> "$tmp/topics.log" \
    || { cat "$tmp/topics.log" "$tmp/broker-0/broker.log" | tail -40 >&2; fail "creating topic $t"; }
done
desc="$(kafka org.apache.kafka.tools.TopicCommand --bootstrap-server "$bootstrap" --describe --topic listen_events 2> /dev/null)"
echo "$desc" | grep -q "PartitionCount: 3" || fail "listen_events: $desc"
echo "$desc" | grep -q "ReplicationFactor: $replication" || fail "listen_events: $desc"
echo "broker-config.sh: $n Kafka $version broker(s) started with broker.sh.tftpl's server.properties; four topics created (replication $replication)"
