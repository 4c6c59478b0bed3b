#!/usr/bin/env bash
# The second README command (and what .ci/run calls): installs what is missing, builds
# everything, starts a real Kafka broker on loopback for the Kafka tests, runs every test
# through CTest, then starts a three-node Kafka cluster and runs the node-fault tests (label
# kafka_cluster) on it, and stops every broker at the end. Exits non-zero if anything fails;
# the Kafka tests fail (never skip) when the broker or the cluster cannot start.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
start=$(date +%s)

bash deploy/install-deps.sh

build="${PERFLEDGER_BUILD_DIR:-$root/build-test}"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C "$build" -j"${PERFLEDGER_JOBS:-2}"
echo "test: build done in $(( $(date +%s) - start )) s"

# A broker of our own: own state dir and ports, so a developer's broker is left alone.
export PERFLEDGER_KAFKA_HOME="${PERFLEDGER_KAFKA_HOME:-$root/.kafka-test}"
export PERFLEDGER_KAFKA_PORT="${PERFLEDGER_KAFKA_PORT:-19192}"
export PERFLEDGER_KAFKA_CONTROLLER_PORT="${PERFLEDGER_KAFKA_CONTROLLER_PORT:-19193}"
# `down` stops every node of the home: the single broker and the cluster.
stop_broker() { bash deploy/kafka/kafka.sh down || true; }
trap stop_broker EXIT
if bash deploy/kafka/kafka.sh up --fresh; then
  export PERFLEDGER_KAFKA_BROKERS="127.0.0.1:${PERFLEDGER_KAFKA_PORT}"
else
  # The Kafka tests see no broker and fail with a clear message; the rest still runs.
  echo "test: the Kafka broker did not start; the Kafka tests will fail" >&2
  export PERFLEDGER_KAFKA_BROKERS="unavailable"
fi

status=0
ctest --test-dir "$build" --output-on-failure -j"${PERFLEDGER_TEST_JOBS:-2}" --timeout 600 \
  -LE kafka_cluster || status=$?

# Then the node-fault tests on a three-node cluster (label kafka_cluster), alone: they take
# nodes down. The cluster starts only now (kafka_fault_test's `kafka.sh down` stops every node
# of the home) and on ports of its own; the single broker is no longer needed.
bash deploy/kafka/kafka.sh down || true
export PERFLEDGER_KAFKA_CLUSTER_PORT="${PERFLEDGER_KAFKA_CLUSTER_PORT:-19492}"
if bash deploy/kafka/kafka.sh --nodes 3 up --fresh; then
  PERFLEDGER_KAFKA_CLUSTER_BROKERS="$(bash deploy/kafka/kafka.sh --nodes 3 brokers)"
  export PERFLEDGER_KAFKA_CLUSTER_BROKERS
else
  # The cluster tests see no cluster and fail with a clear message.
  echo "test: the Kafka cluster did not start; the cluster tests will fail" >&2
  export PERFLEDGER_KAFKA_CLUSTER_BROKERS="unavailable"
fi
ctest --test-dir "$build" --output-on-failure -j1 --timeout 600 -L kafka_cluster || status=$?
echo "test: finished in $(( $(date +%s) - start )) s"
exit $status
