#!/usr/bin/env bash
# The Kafka targets, measured in one run against one broker:
#   1. perfledgerd (--log-backend kafka, fresh topics) under perfbench metrics-batch load;
#   2. librdkafka alone (idempotent, acks=all) producing records of the SAME size as the ones
#      perfledgerd wrote in step 1 (the mean record size, read back with kcat);
#   3. the ratio 1 / 2 (target >= 0.7);
#   4. end-to-end latency at 5,000 events/s: acknowledged -> visible in the views (target p99
#      <= 50 ms), with e2e_latency_bench against the same server.
#
#   tests/kafka/ingest_ratio.sh BUILD_DIR BROKERS [SECONDS] [PORT]
# BUILD_DIR must hold perfledgerd, perfbench, kafka_log_bench and e2e_latency_bench.
set -euo pipefail
build="${1:?build dir}"
brokers="${2:?brokers, e.g. 127.0.0.1:19092}"
seconds="${3:-10}"
port="${4:-7479}"
prefix="plratio-$$-$(date +%s)"
data="$(mktemp -d /tmp/pl-ratio.XXXXXX)"
server_pid=""
cleanup() {
  [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$data"
}
trap cleanup EXIT

"$build/services/perfledgerd" --data-dir "$data/data" --listen "127.0.0.1:$port" \
  --log-backend kafka --kafka-brokers "$brokers" --kafka-topic-prefix "$prefix" \
  --deadline-check-seconds 0 2>"$data/server.err" &
server_pid=$!
for _ in $(seq 1 300); do
  grep -q "serving on port" "$data/server.err" && break
  sleep 0.1
done
grep -q "serving on port" "$data/server.err" || { cat "$data/server.err" >&2; exit 1; }

echo "== 1. perfledgerd on Kafka: perfbench metrics-batch, batch 100, 32 clients, ${seconds} s"
"$build/tools/perfbench/perfbench" --server "127.0.0.1:$port" --scenario metrics-batch \
  --batch-size 100 --concurrency 32 --duration "$seconds" --warmup 2 --subjects 1000 \
  --server-pid "$server_pid" --quiet --output json >"$data/perfbench.json"
server_eps=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(int(r["result"]["events_per_s"]))' "$data/perfbench.json" 2>/dev/null || true)
if [[ -z "$server_eps" ]]; then
  echo "cannot read events/s from perfbench's JSON:" >&2; head -c 2000 "$data/perfbench.json" >&2; exit 1
fi
bytes=$(kcat -C -b "$brokers" -t "$prefix.events" -o beginning -c 2000 -e -q -f '%S\n' 2>/dev/null |
  awk '{s+=$1; n++} END {if (n) printf "%d", s/n}')
echo "perfledgerd: $server_eps events/s; mean record value ${bytes} B"

echo "== 4. end to end at 5,000 events/s (batches of 10): acknowledged -> visible in the views"
"$build/tests/kafka/e2e_latency_bench" "127.0.0.1:$port" 5000 10 "$seconds" 1000 || true

kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""

echo "== 2. librdkafka alone, idempotent acks=all, ${bytes}-byte values, ${seconds} s"
raw_line=$("$build/tests/kafka/kafka_log_bench" "$brokers" "$seconds" "$bytes" raw)
echo "$raw_line"
raw_eps=$(sed -E 's/.*: ([0-9]+) msgs\/s.*/\1/' <<<"$raw_line")
echo "== 3. ratio perfledgerd / librdkafka = $server_eps / $raw_eps = $(python3 -c "print(round($server_eps/$raw_eps, 3))") (target >= 0.7)"
