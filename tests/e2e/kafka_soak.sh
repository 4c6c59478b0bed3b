#!/usr/bin/env bash
# Soak of Kafka failover: brings up the three-node cluster (deploy/kafka/kafka.sh --nodes 3),
# runs ROUNDS (default 20) rounds of randomly chosen node faults against one perfledgerd
# (e2e_kafka_cluster_test "[soak]", the same checks as the single cases after every round), and
# prints the figures of each round: fault, time to resume after the heal, longest pause,
# events acknowledged, lost and duplicated. Stops the cluster at the end.
#
#   tests/e2e/kafka_soak.sh [ROUNDS]
#
# Environment: PERFLEDGER_BUILD_DIR (default <repo>/build), PERFLEDGER_KAFKA_HOME (default
# <repo>/.kafka-test), PERFLEDGER_KAFKA_CLUSTER_PORT (default 19492), PERFLEDGER_SOAK_SEED (the
# faults' seed; default random, printed).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
rounds="${1:-20}"
[[ "$rounds" =~ ^[0-9]+$ ]] && (( rounds >= 1 )) || { echo "usage: $0 [ROUNDS]" >&2; exit 2; }
build="${PERFLEDGER_BUILD_DIR:-$root/build}"
binary="$build/tests/e2e/e2e_kafka_cluster_test"
[[ -x "$binary" ]] || { echo "kafka_soak: $binary not built (ninja -C $build e2e_kafka_cluster_test)" >&2; exit 2; }

export PERFLEDGER_KAFKA_HOME="${PERFLEDGER_KAFKA_HOME:-$root/.kafka-test}"
export PERFLEDGER_KAFKA_CLUSTER_PORT="${PERFLEDGER_KAFKA_CLUSTER_PORT:-19492}"
kafka() { bash "$root/deploy/kafka/kafka.sh" --nodes 3 "$@"; }
trap 'kafka down >/dev/null 2>&1 || true' EXIT
kafka up --fresh
PERFLEDGER_KAFKA_CLUSTER_BROKERS="$(kafka brokers)"
export PERFLEDGER_KAFKA_CLUSTER_BROKERS

log="$(mktemp /tmp/perfledger-kafka-soak-XXXXXX.log)"
status=0
PERFLEDGER_SOAK_ROUNDS="$rounds" "$binary" "[soak]" 2>&1 | tee "$log" || status=$?
echo "kafka_soak: per round:"
grep '^kafka_cluster round ' "$log" || true
echo "kafka_soak: full output in $log; exit $status"
exit "$status"
