#!/usr/bin/env bash
# Single commands on the Kafka log beside raw librdkafka on the same cluster, in one run, and
# writes docs/BENCHMARKS-KAFKA.md: the machine, the date, the commit, every command verbatim and
# each report as printed. That page is only ever written by this script.
#
#   tools/perfbench/kafka.sh [--nodes "1 3"] [--seconds S] [--build-dir DIR] [--no-build]
#                            [--output FILE] [--port N]
#
#   --nodes LIST     the layouts to measure: 1 (one broker), 3 (deploy/kafka/kafka.sh --nodes 3)
#   --seconds S      measured seconds of each run (default 10, after 2 s of warmup)
#
# For each layout, a fresh cluster (its own state under $TMPDIR, its own ports), and for 1 and
# 32 clients: a fresh perfledgerd on --log-backend kafka (fresh topics) with perfbench
# --scenario commands and its Kafka baseline (one shared idempotent producer, acks=all: each
# client sends one record and waits for its delivery report), then the transactional baseline
# (each client: begin, one record, its report, commit). The cluster is stopped afterwards.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
source "$here/lib.sh"

layouts="1 3" seconds=10 build_dir=build-release do_build=1 output=docs/BENCHMARKS-KAFKA.md
port=7431
while [[ $# -gt 0 ]]; do
  case $1 in
    --nodes) layouts=$2; shift ;;
    --seconds) seconds=$2; shift ;;
    --build-dir) build_dir=$2; shift ;;
    --no-build) do_build=0 ;;
    --output) output=$2; shift ;;
    --port) port=$2; shift ;;
    -h | --help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "kafka.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
cd "$root"
[[ $build_dir == /* ]] || build_dir="$root/$build_dir"
[[ $output == /* ]] || output="$root/$output"
if ((do_build)); then
  [[ -f $build_dir/build.ninja ]] ||
    cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release >&2
  ninja -C "$build_dir" -j2 perfledgerd perfbench >&2
fi
server_bin=$build_dir/services/perfledgerd
bench_bin=$build_dir/tools/perfbench/perfbench
for b in "$server_bin" "$bench_bin"; do
  [[ -x $b ]] || { echo "kafka.sh: $b missing (build it, or drop --no-build)" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/pl-kafka-bench.XXXX")
# Ports of their own, clear of deploy/test.sh's brokers (19192, 19492) and the defaults.
export PERFLEDGER_KAFKA_HOME=$work/kafka
export PERFLEDGER_KAFKA_PORT=19792 PERFLEDGER_KAFKA_CONTROLLER_PORT=19793
export PERFLEDGER_KAFKA_CLUSTER_PORT=19892
kafka() { bash "$root/deploy/kafka/kafka.sh" "$@"; }
cleanup() {
  pl_stop_server
  kafka down >/dev/null 2>&1 || true
  rm -rf "$work/kafka" "$work"/run-*/data
}
trap cleanup EXIT

started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
body=$work/body.md summary=$work/summary.txt
: >"$body"
: >"$summary"

run=0
for nodes in $layouts; do
  echo "kafka.sh: $nodes node(s): starting" >&2
  node_args=()
  ((nodes > 1)) && node_args=(--nodes "$nodes")
  kafka up --fresh "${node_args[@]}" >"$work/kafka-up-$nodes.log" 2>&1 ||
    { cat "$work/kafka-up-$nodes.log" >&2; exit 1; }
  brokers=$(kafka brokers "${node_args[@]}")
  {
    echo "## $nodes node(s): bootstrap $brokers"
    echo
    echo '```sh'
    echo "deploy/kafka/kafka.sh up --fresh ${node_args[*]}"
    echo '```'
    echo
  } >>"$body"
  for clients in 1 32; do
    run=$((run + 1))
    dir=$work/run-$run
    echo "kafka.sh: $nodes node(s), $clients client(s)" >&2
    pl_start_server "$server_bin" "$dir" "$port" --log-backend kafka --kafka-brokers "$brokers" \
      --kafka-topic-prefix "plbench-$run-$$" --deadline-check-seconds 0
    bench=("$bench_bin" --server "127.0.0.1:$port" --server-pid "$PL_SERVER_PID" --scenario commands
      --concurrency "$clients" --warmup 2 --duration "$seconds" --baseline-kafka "$brokers" --quiet)
    "${bench[@]}" >"$dir/bench.txt"
    pl_stop_server
    txn=("$bench_bin" --baseline-only --scenario commands --concurrency "$clients" --warmup 2
      --duration "$seconds" --baseline-kafka "$brokers" --baseline-kafka-mode transaction --quiet)
    "${txn[@]}" >"$dir/txn.txt"
    {
      echo "### $clients client(s)"
      echo
      echo '```sh'
      echo "$PL_SERVER_CMD"
      printf '%q ' "${bench[@]}" | sed 's/ $//; s/--server-pid [0-9]*/--server-pid $PID/'
      echo
      printf '%q ' "${txn[@]}" | sed 's/ $//'
      echo
      echo '```'
      echo
      echo '```text'
      cat "$dir/bench.txt"
      echo
      cat "$dir/txn.txt"
      echo '```'
      echo
    } >>"$body"
    # The number after WORD on LINE ('?' when missing).
    after() { sed -nE "s#.*(^| )$2 ([0-9.]+).*#\\2#p" <<<"$1" | head -n1 | grep . || echo '?'; }
    cl=$(grep -m1 '^commands ' "$dir/bench.txt" || true)
    bl=$(grep -m1 '^baseline   events/s' "$dir/bench.txt" || true)
    tl=$(grep -m1 '^baseline   events/s' "$dir/txn.txt" || true)
    p50=$(after "$cl" p50) rps=$(after "$cl" req/s)
    bl_rps=$(after "$bl" events/s) bl_p50=$(after "$bl" p50)
    tx_rps=$(after "$tl" events/s) tx_p50=$(after "$tl" p50)
    cpu=$(after "$(grep -m1 'per request: server' "$dir/bench.txt" || true)" server)
    # The baselines' CPU per write: their process's cores over their rate (librdkafka's own
    # threads included, which is where a transaction's client cost lies).
    bl_cores=$(after "$(grep -m1 '^baseline   cpu cores' "$dir/bench.txt" || true)" cores)
    tx_cores=$(after "$(grep -m1 '^baseline   cpu cores' "$dir/txn.txt" || true)" cores)
    per_op() { awk -v c="$1" -v r="$2" 'BEGIN { if (r > 0 && c != "?") printf "%.0f", c * 1e6 / r; else print "?" }'; }
    ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "?" }'; }
    {
      printf '%d node(s), %2d client(s): perfledgerd %6s commands/s  p50 %6s us  server cpu %s us/command\n' \
        "$nodes" "$clients" "$rps" "$p50" "$cpu"
      printf '    raw produce       %6s records/s  p50 %6s us   perfledgerd p50 / this %s   client cpu %s us/record\n' \
        "$bl_rps" "$bl_p50" "$(ratio "$p50" "$bl_p50")" "$(per_op "$bl_cores" "$bl_rps")"
      printf '    raw transaction   %6s txns/s     p50 %6s us   perfledgerd p50 / this %s   client cpu %s us/txn\n' \
        "$tx_rps" "$tx_p50" "$(ratio "$p50" "$tx_p50")" "$(per_op "$tx_cores" "$tx_rps")"
    } >>"$summary"
  done
  kafka down "${node_args[@]}" >/dev/null 2>&1 || true
done
ended=$(date -u +%Y-%m-%dT%H:%M:%SZ)

commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')
version=$("$server_bin" --version 2>/dev/null | head -1 || echo '?')
{
  echo "# Benchmarks on Kafka"
  echo
  echo "Written by \`tools/perfbench/kafka.sh\`; do not edit by hand."
  echo
  echo "Single commands (\`perfbench --scenario commands\`: one ObserveMetric per request, closed"
  echo "loop) against perfledgerd on \`--log-backend kafka\`, beside two raw librdkafka baselines on"
  echo "the same cluster in the same run: **produce** (one shared idempotent producer, acks=all;"
  echo "each client sends one record of an event's size and waits for its delivery report) and"
  echo "**transaction** (each client: begin, one record, its report, commit). A perfledgerd"
  echo "command is answered after its group's transaction commits, so the transaction baseline is"
  echo "the floor of one command alone; with many clients a group commit shares one transaction"
  echo "among many commands. A baseline's client cpu is its process's CPU (librdkafka's threads"
  echo "included) per record or per transaction; perfledgerd's server cpu includes its own"
  echo "producer's share. The brokers, the server and the client share this machine's cores."
  echo "\`tools/perfbench/README.md\` explains each flag."
  echo
  echo "| | |"
  echo "|---|---|"
  echo "| date | $started to $ended |"
  echo "| commit | $commit |"
  echo "| machine | $(pl_machine) |"
  echo "| disk | $(pl_disk "$work") |"
  echo "| load average at the start | $load_start |"
  echo "| build | \`$(basename "$build_dir")\`, perfledgerd ${version#perfledgerd } |"
  echo "| command | \`tools/perfbench/kafka.sh --nodes \"$layouts\" --seconds $seconds\` |"
  echo
  echo "## Summary"
  echo
  echo '```text'
  cat "$summary"
  echo '```'
  echo
  cat "$body"
} >"$output"
cat "$summary"
echo "kafka.sh: wrote $output" >&2
