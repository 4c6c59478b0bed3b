#!/usr/bin/env bash
# Runs every perfledger benchmark and writes docs/BENCHMARKS.md: the machine, the date, the
# commit, every command verbatim and the figures as the tools print them. Each benchmark gets a
# fresh data dir and a fresh server. docs/BENCHMARKS.md is only ever written by this script.
#
#   tools/perfbench/run-all.sh [--quick] [--sustained SECONDS] [--build-dir DIR] [--no-build]
#                              [--output FILE] [--port N]
#
#   --quick          short durations and small fixtures (a few minutes): to try the script
#   --sustained S    also one long metrics-batch run of S seconds (tools/perfbench/sustained.sh):
#                    the rate of every minute, the server's RSS, the log's compaction bytes
#   --build-dir DIR  the Release build tree (default build-release); configured and built
#                    (perfledgerd perfbench perfctl, ninja -j2) unless --no-build
#   --no-build       take the binaries in DIR as they are
#   --output FILE    default docs/BENCHMARKS.md
#   --port N         the servers' loopback port (default 7421; must be free)
#
# The PostgreSQL peer (tools/perfbench/peers/postgres.sh) needs root: it installs PostgreSQL
# from Debian when missing and runs its own cluster on port 55432.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
source "$here/lib.sh"

quick=0 sustained_seconds=0 build_dir=build-release do_build=1 output=docs/BENCHMARKS.md port=7421
while [[ $# -gt 0 ]]; do
  case $1 in
    --quick) quick=1 ;;
    --sustained) sustained_seconds=$2; shift ;;
    --build-dir) build_dir=$2; shift ;;
    --no-build) do_build=0 ;;
    --output) output=$2; shift ;;
    --port) port=$2; shift ;;
    -h | --help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run-all.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
cd "$root"
[[ $build_dir == /* ]] || build_dir="$root/$build_dir"
[[ $output == /* ]] || output="$root/$output"

if ((quick)); then
  warmup=1 duration=3 lag_duration=5 rank_subjects=2000 load_seconds=5 mixed_seconds=2 pg_seconds=3
else
  warmup=2 duration=10 lag_duration=30 rank_subjects=100000 load_seconds=60 mixed_seconds=20 pg_seconds=20
fi

# ---- binaries
if ((do_build)); then
  [[ -f $build_dir/build.ninja ]] ||
    cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release >&2
  ninja -C "$build_dir" -j2 perfledgerd perfbench perfctl >&2
fi
server_bin=$build_dir/services/perfledgerd
bench_bin=$build_dir/tools/perfbench/perfbench
ctl_bin=$build_dir/tools/perfctl/perfctl
for b in "$server_bin" "$bench_bin" "$ctl_bin"; do
  [[ -x $b ]] || { echo "run-all.sh: $b missing (build it, or drop --no-build)" >&2; exit 1; }
done
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$build_dir/CMakeCache.txt" 2>/dev/null || true)
[[ $build_type == Release ]] ||
  echo "run-all.sh: warning: $build_dir is a '${build_type:-?}' build, not Release" >&2

if (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  echo "run-all.sh: port $port is in use; pick another with --port" >&2
  exit 1
fi

work=$(mktemp -d /tmp/pl-runall.XXXX)
trap 'pl_stop_server; rm -rf "$work"' EXIT
body=$work/body.md summary=$work/summary.txt
: >"$body"
: >"$summary"

rel() { echo "${1#"$root"/}"; }  # a path as the reader types it from the repo's root
q() { local s; s=$(printf '%q ' "$@"); echo "${s% }"; }
note() { echo "run-all.sh: $*" >&2; }

# Appends a section: heading, the commands, the output verbatim.
section() {  # title commands-file output-file
  {
    echo "### $1"
    echo
    echo '```sh'
    cat "$2"
    echo '```'
    echo
    echo '```text'
    cat "$3"
    echo '```'
    echo
  } >>"$body"
}

# One perfbench run on a fresh server: bench TITLE PERFBENCH-ARGS...
bench() {
  local title=$1
  shift
  local dir="$work/run-$RANDOM"
  note "$title"
  pl_start_server "$server_bin" "$dir" "$port"
  local -a cmd=("$bench_bin" --server "127.0.0.1:$port" --server-pid "$PL_SERVER_PID" "$@" --quiet)
  {
    echo "$(rel "$PL_SERVER_CMD") &"
    rel "$(q "${cmd[@]}")"
  } | sed "s|$work|\$WORK|g; s|$root/||g" >"$dir/commands"
  local rc=0
  "${cmd[@]}" >"$dir/report.txt" 2>"$dir/stderr.txt" || rc=$?
  pl_stop_server
  if ((rc != 0)); then
    { cat "$dir/stderr.txt"; echo "(perfbench exit status $rc)"; } >>"$dir/report.txt"
  fi
  sed -i "s|$work|\$WORK|g" "$dir/report.txt"
  section "$title" "$dir/commands" "$dir/report.txt"
  {
    echo "$title"
    grep -m1 -E '^(metrics-batch|ping|commands|mixed|ranking|lag)  ' "$dir/report.txt" | sed 's/^/  /' || echo "  (no summary: see its section)"
    grep -m1 '^cpu us ' "$dir/report.txt" | sed 's/^/  /' || true
    grep -m1 '^visible ms' "$dir/report.txt" | sed 's/   (.*//; s/^/  /' || true
  } >>"$summary"
  rm -rf "$dir/data"
}

# Server threads' CPU ticks: "tid name ticks" per thread (utime + stime).
thread_ticks() {
  local t
  for t in /proc/"$1"/task/*; do
    [[ -r $t/stat ]] || continue
    printf '%s %s %s\n' "${t##*/}" "$(tr ' ' '_' <"$t/comm" 2>/dev/null)" \
      "$(sed 's/.*) //' "$t/stat" 2>/dev/null | awk '{print $12 + $13}')"
  done 2>/dev/null
}
proc_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }

# Waits until the views and the reactor have applied the whole log.
wait_caught_up() {
  local lag
  for _ in $(seq 1800); do
    lag=$("$ctl_bin" --server "127.0.0.1:$port" -o json status 2>/dev/null | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
print(max([int(v.get("lag_events", v.get("lagEvents", 0))) for v in d.get("views", [])] or [0]))
' 2>/dev/null || echo '?')
    [[ $lag == 0 ]] && return 0
    sleep 1
  done
  note "the views did not catch up (lag $lag)"
  return 1
}

# The rebuild: a fresh server loaded through the API, then every view dropped and replayed.
rebuild() {
  local title="Rebuild of every view (perfctl projections rebuild)"
  local dir="$work/rebuild"
  note "$title"
  pl_start_server "$server_bin" "$dir" "$port"
  local pid=$PL_SERVER_PID srv="127.0.0.1:$port"
  local -a load1=("$bench_bin" --server "$srv" --scenario metrics-batch --batch-size 100
    --concurrency 32 --lines 10 --policy deploy/examples/manufacturing/policy.yaml
    --warmup 0 --duration "$load_seconds" --quiet)
  local -a load2=("$bench_bin" --server "$srv" --scenario mixed --concurrency 32
    --warmup 0 --duration "$mixed_seconds" --quiet)
  local -a rb=("$ctl_bin" --server "$srv" projections rebuild --wait 2h)
  {
    echo "$(rel "$PL_SERVER_CMD") &"
    echo "# the log: metric batches under the reference policy, then single commands of every kind"
    rel "$(q "${load1[@]}")"
    rel "$(q "${load2[@]}")"
    echo "# once the views and the reactor have applied it all:"
    rel "$(q "${rb[@]}")"
  } | sed "s|$work|\$WORK|g; s|$root/||g" >"$dir/commands"
  "${load1[@]}" >"$dir/load1.txt" 2>&1 || { note "load failed:"; cat "$dir/load1.txt" >&2; }
  "${load2[@]}" >"$dir/load2.txt" 2>&1 || { note "load failed:"; cat "$dir/load2.txt" >&2; }
  wait_caught_up || true
  local events
  events=$("$ctl_bin" --server "$srv" -o json status | /usr/bin/python3 -c '
import json, sys; d = json.load(sys.stdin); print(d.get("total_events", d.get("totalEvents", "?")))' 2>/dev/null || echo '?')
  local hz t0 t1 before after
  hz=$(getconf CLK_TCK)
  # Threads come and go during a rebuild: sample them every 0.2 s; a thread's CPU is its last
  # sample minus its first (0 for a thread born after the start).
  thread_ticks "$pid" | sed 's/^/0 /' >"$dir/threads"
  t0=$(proc_ticks "$pid")
  (while sleep 0.2; do thread_ticks "$pid" | sed 's/^/1 /'; done) >>"$dir/threads" &
  local sampler=$!
  "${rb[@]}" >"$dir/rebuild.txt" 2>&1 || echo "(perfctl exit status $?)" >>"$dir/rebuild.txt"
  t1=$(proc_ticks "$pid")
  kill "$sampler" 2>/dev/null || true
  wait "$sampler" 2>/dev/null || true
  thread_ticks "$pid" | sed 's/^/1 /' >>"$dir/threads"
  local applied
  applied=$(grep -o 'rebuilt: [0-9,]* events' "$dir/rebuild.txt" | tr -dc '0-9')
  local hwm
  hwm=$(awk '/VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$pid/status")
  {
    echo "log        $events events before the rebuild"
    cat "$dir/rebuild.txt"
    echo
    awk -v a="$t0" -v b="$t1" -v hz="$hz" -v n="${applied:-0}" 'BEGIN {
      s = (b - a) / hz
      printf "server cpu %.2f s during the rebuild", s
      if (n > 0) printf ", %.2f us per event", s * 1e6 / n
      printf "\n" }'
    # Per thread name: each thread's last sample minus its first.
    if [[ -n $applied ]]; then
      awk -v hz="$hz" -v n="$applied" '
        $1 == 0 { base[$2] = $4; next }
        { name[$2] = $3; if ($4 > last[$2]) last[$2] = $4 }
        END {
          for (t in last) cpu[name[t]] += last[t] - base[t]
          for (k in cpu) { us = cpu[k] / hz * 1e6 / n; if (us >= 0.05) printf "%s %.2f\n", k, us }
        }' "$dir/threads" | sort |
        awk 'BEGIN { printf "server cpu threads us per event:" } { printf " %s %s", $1, $2 }
             END { print "  (sampled every 0.2 s: a thread'"'"'s last 0.2 s before it ends is missing)" }'
    fi
    echo "server rss MiB VmHWM $hwm (whole run: load, then rebuild)"
  } >"$dir/report.txt"
  pl_stop_server
  section "$title" "$dir/commands" "$dir/report.txt"
  {
    echo "$title"
    grep -m1 '^rebuilt:' "$dir/rebuild.txt" | sed 's/^/  /' || echo "  (failed: see its section)"
    grep -m1 '^server cpu [0-9]' "$dir/report.txt" | sed 's/^/  /' || true
  } >>"$summary"
  rm -rf "$dir/data"
}

# The long run: tools/perfbench/sustained.sh on its own fresh server.
sustained() {
  local title="Sustained ingest: metrics-batch for $sustained_seconds s"
  local dir="$work/sustained"
  mkdir -p "$dir"
  note "$title"
  echo "PERFBENCH_PORT=$port tools/perfbench/sustained.sh $(rel "$server_bin") $(rel "$bench_bin") $sustained_seconds" >"$dir/commands"
  PERFBENCH_PORT=$port TMPDIR=$work "$here/sustained.sh" "$server_bin" "$bench_bin" "$sustained_seconds" \
    >"$dir/report.txt" 2>&1 || echo "(sustained.sh exit status $?)" >>"$dir/report.txt"
  sed -i "s|$work|\$WORK|g; s|$root/||g" "$dir/report.txt"
  section "$title" "$dir/commands" "$dir/report.txt"
  {
    echo "$title"
    grep -E '^(last/first|rss last 10 min|compaction written / flushed)' "$dir/report.txt" | sed 's/^/  /' ||
      echo "  (failed: see its section)"
  } >>"$summary"
}

peer_postgres() {
  local title="Peer: an append-only event table in PostgreSQL"
  local dir="$work/peer-pg"
  mkdir -p "$dir"
  note "$title"
  echo "tools/perfbench/peers/postgres.sh $pg_seconds" >"$dir/commands"
  "$here/peers/postgres.sh" "$pg_seconds" >"$dir/report.txt" 2>&1 ||
    echo "(postgres.sh exit status $?)" >>"$dir/report.txt"
  section "$title" "$dir/commands" "$dir/report.txt"
  { echo "$title"; sed 's/^/  /' "$dir/report.txt"; } >>"$summary"
}

# ---- the runs
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')
dirty=$(git -C "$root" status --porcelain --untracked-files=no -- . ":(exclude)docs/BENCHMARKS.md" 2>/dev/null |
  grep -q . && echo ' (with uncommitted changes)' || true)
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
load_at_start=$(cut -d' ' -f1-3 /proc/loadavg)
common=(--warmup "$warmup" --duration "$duration")
bench "Batched metric ingest, 32 clients, against the raw RocksDB baseline" \
  --scenario metrics-batch --batch-size 100 --concurrency 32 "${common[@]}" \
  --baseline --baseline-dir "$work"
bench "gRPC floor: Health/Check, 1 client" --scenario ping --concurrency 1 "${common[@]}"
bench "gRPC floor: Health/Check, 32 clients" --scenario ping --concurrency 32 "${common[@]}"
bench "Single commands, 1 client" --scenario commands --concurrency 1 "${common[@]}"
bench "Single commands, 32 clients" --scenario commands --concurrency 32 "${common[@]}"
bench "Mixed single commands, 32 clients" --scenario mixed --concurrency 32 "${common[@]}"
bench "Ranking: top 50 of an org unit of $rank_subjects people, 32 clients" \
  --scenario ranking --subjects "$rank_subjects" --concurrency 32 "${common[@]}"
bench "View lag under 50,000 events/s" \
  --scenario lag --rate 500 --batch-size 100 --concurrency 32 --warmup "$warmup" \
  --duration "$lag_duration"
rebuild
peer_postgres
((sustained_seconds > 0)) && sustained
finished=$(date -u +%Y-%m-%dT%H:%M:%SZ)

# ---- the page
tmp=$work/BENCHMARKS.md
{
  echo "# Benchmarks"
  echo
  echo "Written by \`tools/perfbench/run-all.sh$( ((quick)) && echo ' --quick')\`; do not edit by hand."
  echo
  echo "Each benchmark below ran on a fresh data directory and a fresh server, one after the"
  echo "other, with the client on the same machine. perfbench's report gives throughput"
  echo "(events/s, requests/s), latency percentiles in microseconds, the server's CPU in cores and"
  echo "per event or request (in total and per thread name), its memory, and the share of the"
  echo "machine other processes took. On a shared machine the CPU per event is the steadier"
  echo "figure: throughput and tail latency also depend on the neighbours. A \`target\` line says"
  echo "PASS or FAIL for the goals that apply to the run's configuration."
  echo "\`tools/perfbench/README.md\` explains each scenario and flag; \`\$WORK\` stands for the"
  echo "run's scratch directory under /tmp."
  if ((quick)); then
    echo
    echo "This is a **quick** run (seconds per benchmark, small fixtures): it shows that every"
    echo "benchmark runs, not what the product does under sustained load."
  fi
  echo
  echo "| | |"
  echo "|---|---|"
  echo "| date | $started to $finished |"
  echo "| commit | $commit$dirty |"
  echo "| machine | $(pl_machine) |"
  echo "| disk | $(pl_disk "$work") |"
  echo "| load average at the start | $load_at_start |"
  echo "| build | \`$(rel "$build_dir")\`, CMAKE_BUILD_TYPE=${build_type:-?}, perfledgerd $("$server_bin" --version 2>/dev/null | head -n1) |"
  echo
  echo "## Summary"
  echo
  echo '```text'
  cat "$summary"
  echo '```'
  echo
  echo "## Runs"
  echo
  cat "$body"
} >"$tmp"
mkdir -p "$(dirname "$output")"
mv "$tmp" "$output"
note "wrote $(rel "$output")"
