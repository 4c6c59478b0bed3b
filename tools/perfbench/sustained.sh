#!/usr/bin/env bash
# Sustained ingest: one perfledgerd, one long `perfbench --scenario metrics-batch`, then the
# figures the log must hold to over time: the rate of every minute (the last against the
# first), the server's RSS every minute, and how many bytes the log's compaction wrote against
# the bytes its flushes brought to disk (from RocksDB's event lines in the log's LOG file).
# Prints the machine, the date, the commit and every command.
#
#   tools/perfbench/sustained.sh PERFLEDGERD PERFBENCH [SECONDS [PERFBENCH-ARGS...]]
#   tools/perfbench/sustained.sh --report DIR    # the figures of a run kept in DIR
#
# e.g. tools/perfbench/sustained.sh build-release/services/perfledgerd \
#        build-release/tools/perfbench/perfbench 1800
#
# The run's directory (server log, perfbench report, the log's RocksDB LOG) stays in
# $TMPDIR/pl-sustained.XXXX; the data directory is removed at the end.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"

report() {  # DIR: bench.txt and LOG in it
  python3 - "$1/bench.txt" "$1/LOG" <<'PY'
import json, re, sys
bench, log = sys.argv[1], sys.argv[2]
batch = 100
for line in open(bench):
    m = re.search(r"batch (\d+)", line)
    if line.startswith("perfbench ") and m: batch = int(m.group(1))
pts = []
for line in open(bench):
    m = re.match(r"\[perfbench\]\s+([\d.]+)s measure\s+ok (\d+) .*?server rss ([\d.]+) MiB", line)
    if m: pts.append((float(m.group(1)), int(m.group(2)), float(m.group(3))))
if len(pts) < 2: sys.exit("no progress lines in " + bench)
t0 = pts[0][0]
def at(t): return min(pts, key=lambda p: abs(p[0] - t))
minutes = int((pts[-1][0] - t0) // 60)
rates, rss = [], []
for i in range(minutes):
    a, b = at(t0 + 60 * i), at(t0 + 60 * (i + 1))
    rates.append((b[1] - a[1]) * batch / (b[0] - a[0]))
    rss.append(b[2])
print(f"minutes        {minutes} (batches of {batch})")
print("events/s       " + " ".join(f"{r:.0f}" for r in rates))
if rates: print(f"last/first     {rates[-1] / rates[0]:.2f}  (last minute {rates[-1]:.0f}, first {rates[0]:.0f})")
print("rss MiB        " + " ".join(f"{r:.0f}" for r in rss))
tail = rss[-10:]
if tail: print(f"rss last 10 min  min {min(tail):.0f}  max {max(tail):.0f}  (max over the run {max(p[2] for p in pts):.0f})")
flushed = written = moved = 0
n_flush = n_comp = n_moves = 0
jobs = set()
for line in open(log, errors="replace"):
    i = line.find("EVENT_LOG_v1 ")
    if i < 0: continue
    try: ev = json.loads(line[i + 13:])
    except ValueError: continue
    e = ev.get("event")
    if e == "flush_started": jobs.add(ev.get("job")); n_flush += 1
    elif e == "table_file_creation" and ev.get("job") in jobs: flushed += ev.get("file_size", 0)
    elif e == "flush_finished": jobs.discard(ev.get("job"))
    elif e == "compaction_finished": written += ev.get("total_output_size", 0); n_comp += 1
    elif e == "trivial_move": moved += ev.get("total_files_size", 0); n_moves += 1
G = 1 << 30
print(f"log flushes    {n_flush}: {flushed / G:.2f} GiB to disk")
print(f"log compaction {n_comp} compactions wrote {written / G:.2f} GiB; {n_moves} files moved down without a rewrite ({moved / G:.2f} GiB)")
if flushed: print(f"compaction written / flushed  {written / flushed:.2f}")
PY
}

if [[ ${1:-} == --report ]]; then report "$2"; exit 0; fi
[[ $# -ge 2 ]] || { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
server=$1 bench=$2 seconds=${3:-1800}
shift $(( $# >= 3 ? 3 : 2 ))
port=${PERFBENCH_PORT:-7423}
work=$(mktemp -d "${TMPDIR:-/tmp}/pl-sustained.XXXX")
trap 'pl_stop_server; rm -rf "$work/data"' EXIT

echo "date:     $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "machine:  $(pl_machine)"
echo "disk:     $(pl_disk "$work")"
echo "commit:   $(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo '?')"
pl_start_server "$server" "$work" "$port"
echo "server:   $PL_SERVER_CMD"
cmd=("$bench" --server "127.0.0.1:$port" --server-pid "$PL_SERVER_PID" --scenario metrics-batch
     --duration "$seconds" --rss-interval 10 "$@")
echo "command:  ${cmd[*]}"
"${cmd[@]}" >"$work/bench.txt" 2>&1
cp "$work/data/log/LOG" "$work/LOG"
echo "log size: $(du -sh "$work/data/log" | cut -f1)"
echo "kept in:  $work"
echo
grep -E '^(metrics-batch|cpu|server )' "$work/bench.txt" || true
echo
report "$work"
