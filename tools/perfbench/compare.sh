#!/usr/bin/env bash
# Before/after comparison of two perfledgerd binaries under one perfbench workload, interleaved
# (before, after, before, after, ...) so that the shared machine's slow phases hit both alike.
# Each run gets a fresh data dir and a fresh server. Prints the machine, the date, the commit,
# every command, each run's events/s and server CPU per event, and the medians.
#
#   tools/perfbench/compare.sh [--rebuild] BEFORE_PERFLEDGERD AFTER_PERFLEDGERD ROUNDS PERFBENCH -- ARGS...
#
# --rebuild compares `perfctl projections rebuild` instead: BEFORE writes one log under the
# workload, and every run rebuilds a copy of that same log, so both binaries replay the same
# events (a log written by each binary would differ in size and mix, and a rebuild's rate depends
# on both). AFTER must open BEFORE's data dir. It reports events/s of the rebuild and server CPU
# per event rebuilt.
#
# e.g. the roll-up cost under the reference policy, employees on 10 lines:
#   tools/perfbench/compare.sh /tmp/before/perfledgerd build-release/services/perfledgerd 3 \
#     build-release/tools/perfbench/perfbench -- --scenario metrics-batch --duration 10 \
#     --policy deploy/examples/manufacturing/policy.yaml --lines 10
set -euo pipefail
mode=workload
if [[ ${1:-} == --rebuild ]]; then
  mode=rebuild
  shift
fi
[[ $# -ge 5 && $5 == "--" ]] || {
  echo "usage: $0 [--rebuild] BEFORE_PERFLEDGERD AFTER_PERFLEDGERD ROUNDS PERFBENCH -- ARGS..." >&2
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
ctl=$(dirname "$bench")/../perfctl/perfctl
if [[ $mode == rebuild ]]; then
  echo "log:      written once by before: $bench --server 127.0.0.1:$port $*"
  echo "command:  $ctl --server 127.0.0.1:$port projections rebuild --wait 2h (on a copy of that log)"
else
  echo "command:  $bench --server 127.0.0.1:$port --server-pid PID $*"
fi
echo

# The highest lag of any view (0 = caught up), or "?" while the server does not answer.
max_lag() {
  "$ctl" --server "127.0.0.1:$port" -o json status 2>/dev/null | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
print(max([int(v.get("lag_events", v.get("lagEvents", 0))) for v in d.get("views", [])] or [0]))
' 2>/dev/null || echo '?'
}
wait_caught_up() {
  for _ in $(seq 1800); do
    [[ $(max_lag) == 0 ]] && return 0
    sleep 1
  done
  echo "the views did not catch up" >&2
  return 1
}
proc_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

run() {  # label binary perfbench-args...
  local label=$1 bin=$2
  shift 2
  local dir="$work/$label-$RANDOM"
  pl_start_server "$bin" "$dir" "$port"
  "$bench" --server "127.0.0.1:$port" --server-pid "$PL_SERVER_PID" "$@" >"$dir/report.txt" 2>&1 ||
    { cat "$dir/report.txt" >&2; pl_stop_server; return 1; }
  pl_stop_server
  local eps cpu
  # Scenarios that append count events; queries and pings count requests.
  eps=$(grep -m1 -oE '(events|req)/s [0-9]+' "$dir/report.txt" | awk '{print $2}' | head -n1 || true)
  cpu=$(grep -m1 -oE 'per (event|request): server [0-9.]+' "$dir/report.txt" | awk '{print $4}' | head -n1 || true)
  local threads
  threads=$(grep -m1 '^cpu threads' "$dir/report.txt" | sed -E 's/  \(gRPC.*//; s/^cpu threads us per (event|request): //' || true)
  printf '%-6s %8s /s  %6s us CPU each  threads: %s\n' "$label" "$eps" "$cpu" "$threads"
  echo "$eps $cpu" >>"$work/$label.results"
  rm -rf "$dir/data"
}

rebuild_run() {  # label binary
  local label=$1 bin=$2
  local dir="$work/$label-$RANDOM"
  mkdir -p "$dir"
  cp -a "$work/log/data" "$dir/data"
  pl_start_server "$bin" "$dir" "$port"
  wait_caught_up || { pl_stop_server; return 1; }
  local t0 t1
  t0=$(proc_ticks "$PL_SERVER_PID")
  "$ctl" --server "127.0.0.1:$port" projections rebuild --wait 2h >"$dir/rebuild.txt" 2>&1 ||
    { cat "$dir/rebuild.txt" >&2; pl_stop_server; return 1; }
  t1=$(proc_ticks "$PL_SERVER_PID")
  pl_stop_server
  local n eps cpu
  n=$(grep -o 'rebuilt: [0-9,]* events' "$dir/rebuild.txt" | tr -dc '0-9')
  eps=$(grep -o '([0-9,]* events/s)' "$dir/rebuild.txt" | tr -dc '0-9')
  cpu=$(awk -v a="$t0" -v b="$t1" -v hz="$(getconf CLK_TCK)" -v n="$n" \
    'BEGIN {printf "%.2f", (b - a) / hz * 1e6 / n}')
  printf '%-6s %8s /s  %6s us CPU each  (%s events)\n' "$label" "$eps" "$cpu" "$n"
  echo "$eps $cpu" >>"$work/$label.results"
  rm -rf "$dir"
}

if [[ $mode == rebuild ]]; then
  pl_start_server "$before" "$work/log" "$port"
  "$bench" --server "127.0.0.1:$port" --quiet "$@" >"$work/log/report.txt" 2>&1 ||
    { cat "$work/log/report.txt" >&2; exit 1; }
  wait_caught_up
  pl_stop_server
fi
for ((i = 1; i <= rounds; i++)); do
  if [[ $mode == rebuild ]]; then
    rebuild_run before "$before"
    rebuild_run after "$after"
  else
    run before "$before" "$@"
    run after "$after" "$@"
  fi
done

median() { sort -n | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
echo
for label in before after; do
  printf '%-6s median %8s /s  %6s us CPU each\n' "$label" \
    "$(cut -d' ' -f1 "$work/$label.results" | median)" "$(cut -d' ' -f2 "$work/$label.results" | median)"
done
b=$(cut -d' ' -f1 "$work/before.results" | median)
a=$(cut -d' ' -f1 "$work/after.results" | median)
awk -v a="$a" -v b="$b" 'BEGIN {printf "after/before throughput: %.3f\n", a / b}'
