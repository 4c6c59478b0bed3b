#!/usr/bin/env bash
# Before/after comparison of two perfledgerd binaries under one perfbench workload, interleaved
# (before, after, before, after, ...) so that the shared machine's slow phases hit both alike.
# Each run gets a fresh data dir and a fresh server. Prints the machine, the date, the commit,
# every command, each run's events/s and server CPU per event, and the medians.
#
#   tools/perfbench/compare.sh BEFORE_PERFLEDGERD AFTER_PERFLEDGERD ROUNDS PERFBENCH -- ARGS...
#
# e.g. the roll-up cost under the reference policy, employees on 10 lines:
#   tools/perfbench/compare.sh /tmp/before/perfledgerd build-release/services/perfledgerd 3 \
#     build-release/tools/perfbench/perfbench -- --scenario metrics-batch --duration 10 \
#     --policy deploy/examples/manufacturing/policy.yaml --lines 10
set -euo pipefail
[[ $# -ge 5 && $5 == "--" ]] || {
  echo "usage: $0 BEFORE_PERFLEDGERD AFTER_PERFLEDGERD ROUNDS PERFBENCH -- ARGS..." >&2
  exit 2
}
before=$1 after=$2 rounds=$3 bench=$4
shift 5
source "$(dirname "$0")/lib.sh"
port=${PERFBENCH_PORT:-7419}
work=$(mktemp -d /tmp/pl-compare.XXXX)
trap 'pl_stop_server; kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

echo "date:     $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "machine:  $(pl_machine)"
echo "disk:     $(pl_disk "$work")"
echo "commit:   $(git -C "$(dirname "$0")" rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "before:   $before ($(sha256sum "$before" | cut -c1-12))"
echo "after:    $after ($(sha256sum "$after" | cut -c1-12))"
echo "command:  $bench --server 127.0.0.1:$port --server-pid PID $*"
echo

run() {  # label binary perfbench-args...
  local label=$1 bin=$2
  shift 2
  local dir="$work/$label-$RANDOM"
  pl_start_server "$bin" "$dir" "$port"
  "$bench" --server "127.0.0.1:$port" --server-pid "$PL_SERVER_PID" "$@" >"$dir/report.txt" 2>&1 ||
    { cat "$dir/report.txt" >&2; pl_stop_server; return 1; }
  pl_stop_server
  local eps cpu
  eps=$(grep -m1 -o 'events/s [0-9]*' "$dir/report.txt" | awk '{print $2}')
  # With one event per request (commands, mixed) the report says "per request" only.
  cpu=$({ grep -m1 -o 'per event: server [0-9.]*' "$dir/report.txt" ||
    grep -m1 -o 'per request: server [0-9.]*' "$dir/report.txt"; } | awk '{print $NF}')
  local threads
  threads=$(grep -m1 '^cpu threads' "$dir/report.txt" |
    sed -E 's/  \(gRPC.*//; s/^cpu threads us per (event|request): //')
  printf '%-6s %8s events/s  %6s us/event  threads: %s\n' "$label" "$eps" "$cpu" "$threads"
  echo "$eps $cpu" >>"$work/$label.results"
  rm -rf "$dir/data"
}

for ((i = 1; i <= rounds; i++)); do
  run before "$before" "$@"
  run after "$after" "$@"
done

median() { sort -n | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
echo
for label in before after; do
  printf '%-6s median %8s events/s  %6s us/event\n' "$label" \
    "$(cut -d' ' -f1 "$work/$label.results" | median)" "$(cut -d' ' -f2 "$work/$label.results" | median)"
done
b=$(cut -d' ' -f1 "$work/before.results" | median)
a=$(cut -d' ' -f1 "$work/after.results" | median)
awk -v a="$a" -v b="$b" 'BEGIN {printf "after/before throughput: %.3f\n", a / b}'
