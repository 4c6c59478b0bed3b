#!/usr/bin/env bash
# Local Apache Kafka on 127.0.0.1 (KRaft, every node a combined broker+controller), run from jars
# fetched from Maven Central with Maven. No Docker, no ZooKeeper. One node by default; with
# `--nodes 3` a three-node cluster laid out like three data centres: broker.rack r1..r3,
# replication factor 3 and min.insync.replicas 2 for every topic it creates by default and for
# its internal topics (consumer offsets, transaction state), unclean leader election off.
# A cluster and the single node live side by side (own ports and data); each command acts on the
# single node unless it is given --nodes 3 (anywhere on the line).
#
#   deploy/kafka/kafka.sh fetch                 download the broker jars (once; idempotent)
#   deploy/kafka/kafka.sh up [--fresh]          start (fetch/format if needed); --fresh wipes data first
#   deploy/kafka/kafka.sh down                  stop every node of the single node and the cluster
#                                               (SIGTERM, then SIGKILL after 30 s)
#   deploy/kafka/kafka.sh status                per node: pid, port, RSS, ready; on a cluster also
#                                               each partition's leader and ISR; exit 0 all running,
#                                               3 otherwise
#   deploy/kafka/kafka.sh brokers               the bootstrap list, e.g. 127.0.0.1:19092
#   deploy/kafka/kafka.sh node I ACTION         fault injection on node I: kill (SIGKILL), stop
#                                               (SIGSTOP), cont (SIGCONT), start (after a kill),
#                                               pid
#   deploy/kafka/kafka.sh logs [-f] [I]         tail node I's server log (default 1; -f follows)
#   deploy/kafka/kafka.sh topics ARGS...        org.apache.kafka.tools.TopicCommand against it,
#                                               e.g. topics --describe --topic t
#
# Environment:
#   PERFLEDGER_KAFKA_HOME             state dir (default <repo>/.kafka)
#   PERFLEDGER_KAFKA_PORT             single node's client port (default 19092)
#   PERFLEDGER_KAFKA_CONTROLLER_PORT  single node's KRaft controller port (default 19093)
#   PERFLEDGER_KAFKA_CLUSTER_PORT     cluster node I's client port is this + I - 1 (default 19292),
#                                     its controller port that + 100
#   PERFLEDGER_KAFKA_VERSION          Kafka version to fetch (default 3.9.2, falls back to 3.9.1)
#   PERFLEDGER_KAFKA_START_TIMEOUT    seconds `up` waits for readiness (default 60; 120 for 3 nodes)
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd -P)"
POM="$SCRIPT_DIR/pom.xml"

KHOME="${PERFLEDGER_KAFKA_HOME:-$REPO_ROOT/.kafka}"
SINGLE_PORT="${PERFLEDGER_KAFKA_PORT:-19092}"
SINGLE_CPORT="${PERFLEDGER_KAFKA_CONTROLLER_PORT:-19093}"
CLUSTER_PORT="${PERFLEDGER_KAFKA_CLUSTER_PORT:-19292}"
DEFAULT_VERSION="3.9.2"
FALLBACK_VERSION="3.9.1"
VERSION="${PERFLEDGER_KAFKA_VERSION:-$DEFAULT_VERSION}"
STOP_TIMEOUT=30

say() { printf 'kafka: %s\n' "$*"; }
die() { printf 'kafka: error: %s\n' "$*" >&2; exit 1; }

# --nodes N may appear anywhere on the line; the rest are the command and its arguments.
NODES=1
ARGS=()
while (( $# )); do
  case "$1" in
    --nodes) [[ $# -ge 2 ]] || die "--nodes needs a count"; NODES="$2"; shift 2 ;;
    --nodes=*) NODES="${1#--nodes=}"; shift ;;
    *) ARGS+=("$1"); shift ;;
  esac
done
set -- "${ARGS[@]+"${ARGS[@]}"}"
[[ "$NODES" == 1 || "$NODES" == 3 ]] || die "--nodes: 1 or 3 (got $NODES)"
if (( NODES == 1 )); then START_TIMEOUT="${PERFLEDGER_KAFKA_START_TIMEOUT:-60}"
else START_TIMEOUT="${PERFLEDGER_KAFKA_START_TIMEOUT:-120}"; fi

# Absolute state paths (a relative PERFLEDGER_KAFKA_HOME is taken relative to the caller's cwd).
# The directory itself is only created by fetch/up, never by status/logs/down/help.
[[ "$KHOME" == /* ]] || KHOME="$PWD/$KHOME"
KHOME="${KHOME%/}"
LIBS="$KHOME/libs"
STAMP="$LIBS/.fetched"
LOG4J_PROPS="$KHOME/log4j.properties"
# The single node keeps its state at the top of KHOME; the cluster's nodes under cluster/nodeI.
CLUSTER_HOME="$KHOME/cluster"
CLUSTER_ID_FILE="$CLUSTER_HOME/cluster.id"

for p in "$SINGLE_PORT" "$SINGLE_CPORT" "$CLUSTER_PORT"; do
  [[ "$p" =~ ^[0-9]+$ ]] || die "ports must be numeric (got $p)"
done
[[ "$SINGLE_PORT" != "$SINGLE_CPORT" ]] || die "client and controller ports must differ ($SINGLE_PORT)"

# Sets the paths and ports of node I of the current layout (NODES).
node_vars() {
  local i="$1"
  if (( NODES == 1 )); then
    NODE_HOME="$KHOME"
    PORT="$SINGLE_PORT"
    CPORT="$SINGLE_CPORT"
  else
    NODE_HOME="$CLUSTER_HOME/node$i"
    PORT=$(( CLUSTER_PORT + i - 1 ))
    CPORT=$(( CLUSTER_PORT + 100 + i - 1 ))
  fi
  DATA="$NODE_HOME/data"
  LOGS="$NODE_HOME/logs"
  SERVER_LOG="$LOGS/server.log"
  STDOUT_LOG="$LOGS/kafka.out"
  PIDFILE="$NODE_HOME/kafka.pid"
  SERVER_PROPS="$NODE_HOME/server.properties"
}

bootstrap() {
  local i list=()
  for (( i = 1; i <= NODES; i++ )); do node_vars "$i"; list+=("127.0.0.1:$PORT"); done
  (IFS=,; echo "${list[*]}")
}

need() { command -v "$1" >/dev/null 2>&1 || die "'$1' not found on PATH (run deploy/install-deps.sh as root)"; }

# Serialise fetch/up/down against each other (e.g. two test runners calling `up` at once).
lock() {
  mkdir -p "$KHOME"
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$KHOME/.lock"
    flock -w 180 9 || die "timed out waiting for $KHOME/.lock"
  fi
}

# Echo the pid of the current node (node_vars) if it is alive; stale pid files are ignored.
running_pid() {
  local pid
  [[ -s "$PIDFILE" ]] || return 1
  pid="$(<"$PIDFILE")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  # Guard against pid reuse: the process must be kafka.Kafka with this node's server.properties.
  local cmdline
  cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
  [[ "$cmdline" == *"kafka.Kafka $SERVER_PROPS"* ]] || return 1
  echo "$pid"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

rss_mb() { awk '/^VmRSS:/ { printf "%d", $2 / 1024 }' "/proc/$1/status" 2>/dev/null || echo "?"; }

# R (running), T (stopped by a signal), ... of a pid.
proc_state() { awk '/^State:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo "?"; }

installed_version() { [[ -f "$STAMP" ]] && awk '{ print $2 }' "$STAMP"; }

# The stamp records the version and a hash of pom.xml: editing the pom triggers a re-fetch.
pom_hash() { sha256sum "$POM" | cut -c1-12; }
stamp_ok() {
  [[ -f "$STAMP" ]] || return 1
  [[ "$(awk '{ print $3 }' "$STAMP")" == "pom=$(pom_hash)" ]] || return 1
  [[ -z "${PERFLEDGER_KAFKA_VERSION:-}" || "$(installed_version)" == "$VERSION" ]]
}

# ---------------------------------------------------------------------------------------------
cmd_fetch() {
  if stamp_ok; then
    say "jars present (kafka $(installed_version), $LIBS)"
    return 0
  fi
  need mvn
  need java
  local versions=("$VERSION") v tmp mvnlog
  [[ -z "${PERFLEDGER_KAFKA_VERSION:-}" ]] && versions+=("$FALLBACK_VERSION")
  mvnlog="$KHOME/mvn.log"
  for v in "${versions[@]}"; do
    say "fetching kafka_2.13:$v jars from Maven Central (mvn, ~50 MB) ..."
    tmp="$KHOME/libs.tmp"
    rm -rf "$tmp"
    if (cd "$SCRIPT_DIR" && mvn -q -B -f "$POM" -Dkafka.version="$v" \
          dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp") >"$mvnlog" 2>&1 \
       && [[ -f "$tmp/kafka_2.13-$v.jar" ]]; then
      rm -rf "$LIBS"
      mv "$tmp" "$LIBS"
      echo "kafka_2.13 $v pom=$(pom_hash)" >"$STAMP"
      say "fetched kafka $v: $(find "$LIBS" -name '*.jar' | wc -l) jars in $LIBS"
      return 0
    fi
    say "mvn could not fetch kafka $v (see $mvnlog)"
  done
  rm -rf "$tmp"
  grep -E '^\[ERROR\]' "$mvnlog" | sed 's/\x1b\[[0-9;]*m//g' | head -n 15 >&2 || true
  die "fetch failed"
}

write_log4j() {
  cat >"$LOG4J_PROPS" <<'EOF'
# Generated by deploy/kafka/kafka.sh -- edits are overwritten.
log4j.rootLogger=INFO, server
log4j.appender.server=org.apache.log4j.RollingFileAppender
log4j.appender.server.File=${kafka.logs.dir}/server.log
log4j.appender.server.MaxFileSize=20MB
log4j.appender.server.MaxBackupIndex=3
log4j.appender.server.layout=org.apache.log4j.PatternLayout
log4j.appender.server.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.org.apache.kafka.clients=WARN
log4j.logger.org.apache.zookeeper=WARN
EOF
}

# server.properties of node I (node_vars set).
write_node_config() {
  local i="$1" voters="" j
  mkdir -p "$DATA" "$LOGS"
  if (( NODES == 1 )); then
    voters="1@127.0.0.1:$SINGLE_CPORT"
  else
    for (( j = 1; j <= NODES; j++ )); do
      voters+="${voters:+,}$j@127.0.0.1:$(( CLUSTER_PORT + 100 + j - 1 ))"
    done
  fi
  {
    cat <<EOF
# Generated by deploy/kafka/kafka.sh on every 'up' -- edits are overwritten.
node.id=$i
process.roles=broker,controller
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CPORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$DATA

# Topics are created explicitly by the tests/services.
auto.create.topics.enable=false
num.partitions=1
delete.topic.enable=true
group.initial.rebalance.delay.ms=0

# Keep a test broker light: fewer threads, a smaller log-cleaner buffer (default 128 MB of heap).
num.network.threads=2
num.io.threads=4
log.cleaner.dedupe.buffer.size=16777216

# After a crash (kill -9) the old broker registration blocks the new one until the broker's
# heartbeat lease expires (default 9 s); a 4 s lease lets a restarted broker register sooner.
broker.session.timeout.ms=4000
broker.heartbeat.interval.ms=1000
EOF
    if (( NODES == 1 )); then
      cat <<EOF

# One broker: every internal topic must have replication factor 1 / min ISR 1,
# otherwise consumer groups and transactions cannot work.
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
default.replication.factor=1
min.insync.replicas=1
EOF
    else
      cat <<EOF

# One node per failure domain (a rack stands for a data centre): replicas of a partition are
# placed on distinct racks, every write is acknowledged by two of three, and a replica that was
# out of sync never becomes leader (no acknowledged write is lost to an election).
broker.rack=r$i
default.replication.factor=3
min.insync.replicas=2
offsets.topic.replication.factor=3
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
unclean.leader.election.enable=false
# Fewer internal partitions than the default 50: three JVMs on a small machine start faster.
offsets.topic.num.partitions=10
transaction.state.log.num.partitions=10
EOF
    fi
  } >"$SERVER_PROPS"
}

# Formats node I's data dir once, with the cluster's id (one per cluster, kept in the cluster's
# home so a node formatted again after --fresh joins the same cluster).
format_storage() {
  [[ -f "$DATA/meta.properties" ]] && return 0
  rm -rf "$DATA"
  mkdir -p "$DATA"
  local cid=""
  if (( NODES > 1 )) && [[ -s "$CLUSTER_ID_FILE" ]]; then cid="$(<"$CLUSTER_ID_FILE")"; fi
  if [[ -z "$cid" ]]; then
    cid="$(java -cp "$LIBS/*" kafka.tools.StorageTool random-uuid 2>>"$LOGS/format.log" | tail -n 1)"
    [[ -n "$cid" ]] || die "StorageTool random-uuid failed (see $LOGS/format.log)"
    if (( NODES > 1 )); then echo "$cid" >"$CLUSTER_ID_FILE"; fi
  fi
  java -Dkafka.logs.dir="$LOGS" -Dlog4j.configuration="file:$LOG4J_PROPS" -cp "$LIBS/*" \
    kafka.tools.StorageTool format -t "$cid" -c "$SERVER_PROPS" >>"$LOGS/format.log" 2>&1 \
    || { tail -n 20 "$LOGS/format.log" >&2; die "StorageTool format failed"; }
  say "formatted fresh data dir $DATA (cluster id $cid)"
}

# Is the current node (node_vars set) answering Kafka metadata requests?
broker_answers() {
  if command -v kcat >/dev/null 2>&1; then
    kcat -b "127.0.0.1:$PORT" -L -m "${1:-5}" >/dev/null 2>&1
  else
    port_open "$PORT"
  fi
}

# How many brokers the cluster's metadata lists, as the current node sees it.
brokers_registered() {
  kcat -b "127.0.0.1:$PORT" -L -m 5 2>/dev/null | awk '/ brokers:$/ { print $1; exit }'
}

# Starts node I (node_vars set) in the background; the size of its log before the start goes to
# LOG_OFFSET[I], so readiness looks only at what this start writes.
declare -A LOG_OFFSET
launch_node() {
  local i="$1" heap
  LOG_OFFSET[$i]=0
  [[ -f "$SERVER_LOG" ]] && LOG_OFFSET[$i]="$(stat -c %s "$SERVER_LOG")"
  rm -f "$PIDFILE"
  # Three JVMs share the machine with the tests: each gets a smaller heap than a lone node.
  if (( NODES == 1 )); then heap="-Xmx512m -Xms256m"; else heap="-Xmx384m -Xms128m"; fi
  say "starting node $i: kafka $(installed_version) on 127.0.0.1:$PORT (controller $CPORT), home $NODE_HOME"
  # setsid + nohup: the broker runs detached and survives the calling shell.
  # The child writes its own pid and then execs java, so the pid file is exact.
  # shellcheck disable=SC2086
  nohup setsid bash -c 'echo $$ >"$0"; exec "$@"' "$PIDFILE" \
    java $heap -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError \
      -Djava.awt.headless=true \
      -Dkafka.logs.dir="$LOGS" -Dlog4j.configuration="file:$LOG4J_PROPS" \
      -cp "$LIBS/*" kafka.Kafka "$SERVER_PROPS" \
    >>"$STDOUT_LOG" 2>&1 </dev/null 9>&- &   # 9>&-: the broker must not inherit the flock
}

# How many of the layout's nodes are running (a subshell: node_vars sets globals).
running_nodes() {
  (
    local j n=0
    for (( j = 1; j <= NODES; j++ )); do
      node_vars "$j"
      if running_pid >/dev/null; then n=$(( n + 1 )); fi
    done
    echo "$n"
  )
}

# Waits until every node given after T0 has started and answers and, on a cluster, sees every
# running node registered (all NODES after `up`; fewer when a node restarts while another is
# down, as in a fault test).
wait_ready() {
  local t0="$1"; shift
  local deadline=$(( ${t0%.*} + START_TIMEOUT )) i pid size
  declare -A started
  while :; do
    local all=1
    for i in "$@"; do
      node_vars "$i"
      pid=""
      [[ -s "$PIDFILE" ]] && pid="$(<"$PIDFILE")"
      if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
        start_failed "$i" "node $i exited during start-up"
      fi
      if [[ -z "${started[$i]:-}" && -f "$SERVER_LOG" ]]; then
        size="$(stat -c %s "$SERVER_LOG")"
        (( size < LOG_OFFSET[$i] )) && LOG_OFFSET[$i]=0   # log rolled over
        # (process substitution, not a pipe: with pipefail, grep -q could make tail's SIGPIPE fail it)
        grep -q 'Kafka Server started' < <(tail -c +"$(( LOG_OFFSET[$i] + 1 ))" "$SERVER_LOG") \
          && started[$i]=1
      fi
      if [[ -z "${started[$i]:-}" ]] || ! broker_answers 5; then
        all=0
      elif (( NODES > 1 )) && [[ "$(brokers_registered)" != "$(running_nodes)" ]]; then
        all=0
      fi
    done
    (( all )) && break
    if (( ${EPOCHREALTIME%.*} >= deadline )); then
      start_failed "$1" "not ready after ${START_TIMEOUT}s"
    fi
    sleep 0.2
  done
}

cmd_up() {
  local fresh=0 arg
  for arg in "$@"; do
    case "$arg" in
      --fresh) fresh=1 ;;
      *) die "unknown option for up: $arg" ;;
    esac
  done
  lock
  local i p pid to_start=()
  for (( i = 1; i <= NODES; i++ )); do
    node_vars "$i"
    if pid="$(running_pid)"; then
      if (( fresh )); then
        say "--fresh: stopping node $i first"
        stop_node "$i" "$pid"
        to_start+=("$i")
      else
        say "node $i already running (pid $pid, 127.0.0.1:$PORT)"
      fi
    else
      to_start+=("$i")
    fi
  done
  (( ${#to_start[@]} )) || return 0
  local t0=$EPOCHREALTIME
  need java
  command -v kcat >/dev/null 2>&1 || say "warning: kcat not found; readiness falls back to a TCP probe"
  for i in "${to_start[@]}"; do
    node_vars "$i"
    for p in "$PORT" "$CPORT"; do
      if port_open "$p"; then
        die "127.0.0.1:$p is already in use by another process (see the port variables in --help)"
      fi
    done
  done
  cmd_fetch
  write_log4j
  if (( fresh )); then
    if (( NODES > 1 )); then
      say "--fresh: wiping $CLUSTER_HOME"
      rm -rf "$CLUSTER_HOME"
    else
      node_vars 1
      say "--fresh: wiping $DATA"
      rm -rf "$DATA"
    fi
  fi
  (( NODES == 1 )) || mkdir -p "$CLUSTER_HOME"
  for i in "${to_start[@]}"; do
    node_vars "$i"
    write_node_config "$i"
    format_storage
  done
  for i in "${to_start[@]}"; do
    node_vars "$i"
    launch_node "$i"
  done
  wait_ready "$t0" "${to_start[@]}"
  local secs
  secs="$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')"
  for i in "${to_start[@]}"; do
    node_vars "$i"
    pid="$(<"$PIDFILE")"
    say "node $i up (pid $pid, 127.0.0.1:$PORT, rss $(rss_mb "$pid") MB)"
  done
  say "ready in ${secs}s; bootstrap $(bootstrap)"
}

start_failed() {
  local i="$1" what="$2" j pid
  node_vars "$i"
  printf 'kafka: error: %s; last 40 lines of %s:\n' "$what" "$SERVER_LOG" >&2
  if [[ -f "$SERVER_LOG" ]]; then tail -n 40 "$SERVER_LOG" >&2; fi
  if [[ -s "$STDOUT_LOG" ]]; then
    printf 'kafka: last 10 lines of %s:\n' "$STDOUT_LOG" >&2
    tail -n 10 "$STDOUT_LOG" >&2
  fi
  for (( j = 1; j <= NODES; j++ )); do
    node_vars "$j"
    if pid="$(running_pid)"; then
      say "stopping half-started node $j (pid $pid)" >&2
      stop_node "$j" "$pid" >&2
    fi
    rm -f "$PIDFILE"
  done
  exit 1
}

# Stops node I (node_vars set) whose pid is PID: SIGTERM, SIGKILL after STOP_TIMEOUT.
stop_node() {
  local i="$1" pid="$2" k
  say "stopping node $i (pid $pid, SIGTERM) ..."
  kill -CONT "$pid" 2>/dev/null || true   # a node stopped by SIGSTOP cannot act on SIGTERM
  kill -TERM "$pid" 2>/dev/null || true
  for (( k = 0; k < STOP_TIMEOUT * 5; k++ )); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "node $i still alive after ${STOP_TIMEOUT}s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for (( k = 0; k < 50; k++ )); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
  fi
  rm -f "$PIDFILE"
  say "node $i stopped"
}

cmd_down() {
  if [[ ! -d "$KHOME" ]]; then
    say "not running"
    return 0
  fi
  lock
  # Both layouts: a test run that brought up either must leave nothing behind.
  local layout i k pid pids=() names=()
  for layout in 1 3; do
    NODES=$layout
    for (( i = 1; i <= NODES; i++ )); do
      node_vars "$i"
      if pid="$(running_pid)"; then
        pids+=("$pid"); names+=("$layout:$i")
      else
        rm -f "$PIDFILE" 2>/dev/null || true
      fi
    done
  done
  if (( ${#pids[@]} == 0 )); then say "not running"; return 0; fi
  # A cluster's nodes are asked to stop together: stopped one at a time, the last ones would
  # wait for a controller quorum that is already gone.
  for k in "${!pids[@]}"; do
    kill -CONT "${pids[$k]}" 2>/dev/null || true
    kill -TERM "${pids[$k]}" 2>/dev/null || true
  done
  for k in "${!pids[@]}"; do
    NODES="${names[$k]%%:*}"; i="${names[$k]#*:}"
    node_vars "$i"
    stop_node "$i" "${pids[$k]}" >/dev/null
  done
  say "stopped ${#pids[@]} node(s)"
}

cmd_status() {
  local i pid running=0 ready state
  for (( i = 1; i <= NODES; i++ )); do
    node_vars "$i"
    if pid="$(running_pid)"; then
      ready=no
      state="$(proc_state "$pid")"
      if [[ "$state" == T ]]; then ready="no (stopped by SIGSTOP)"; elif broker_answers 2; then ready=yes; fi
      say "node $i running: pid $pid, 127.0.0.1:$PORT (controller $CPORT), rss $(rss_mb "$pid") MB, ready $ready"
      running=$(( running + 1 ))
    else
      say "node $i stopped (home $NODE_HOME)"
    fi
  done
  say "version $(installed_version || echo '?'), home $KHOME, bootstrap $(bootstrap)"
  if (( NODES > 1 && running > 0 )) && command -v kcat >/dev/null 2>&1; then
    # Every partition's leader, replicas and in-sync replicas (internal topics summarised).
    kcat -b "$(bootstrap)" -L -m 5 2>/dev/null | awk '
      /^ *broker [0-9]+ at / { brokers = brokers " " $2 }
      /^  topic "/ { topic = $2; gsub(/"/, "", topic) }
      /^    partition / {
        line = $0; sub(/^ +/, "", line)
        if (topic ~ /^__/) {
          n[topic]++
          split(line, f, "isrs: "); isr = f[2]; c = split(isr, x, ",")
          split(line, g, "replicas: "); split(g[2], h, ", "); r = split(h[1], y, ",")
          if (c < r) under[topic]++
          next
        }
        printf "kafka:   %s %s\n", topic, line
      }
      END {
        for (t in n) printf "kafka:   %s: %d partitions, %d under-replicated\n", t, n[t], under[t] + 0
        printf "kafka: brokers in metadata:%s\n", brokers
      }'
  fi
  (( running == NODES )) && return 0
  return 3
}

cmd_brokers() { bootstrap; }

cmd_node() {
  local i="${1:-}" action="${2:-}" pid t0
  [[ "$i" =~ ^[0-9]+$ ]] && (( i >= 1 && i <= NODES )) \
    || die "node: a number 1..$NODES (the cluster's nodes need --nodes 3)"
  node_vars "$i"
  case "$action" in
    pid)  running_pid || die "node $i is not running" ;;
    kill) pid="$(running_pid)" || die "node $i is not running"
          kill -KILL "$pid"
          while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
          rm -f "$PIDFILE"; say "node $i killed (pid $pid)" ;;
    stop) pid="$(running_pid)" || die "node $i is not running"
          kill -STOP "$pid"; say "node $i stopped by SIGSTOP (pid $pid)" ;;
    cont) pid="$(running_pid)" || die "node $i is not running"
          kill -CONT "$pid"; say "node $i continued (pid $pid)" ;;
    start)
      lock
      if pid="$(running_pid)"; then say "node $i already running (pid $pid)"; return 0; fi
      [[ -f "$SERVER_PROPS" && -f "$DATA/meta.properties" ]] \
        || die "node $i was never formatted; run: $0 up --nodes $NODES"
      t0=$EPOCHREALTIME
      launch_node "$i"
      wait_ready "$t0" "$i"
      say "node $i up (pid $(<"$PIDFILE"), 127.0.0.1:$PORT)" ;;
    *) die "node $i: kill, stop, cont, start or pid (got '${action}')" ;;
  esac
}

cmd_logs() {
  local follow=0 i=1 arg
  for arg in "$@"; do
    case "$arg" in
      -f) follow=1 ;;
      [0-9]*) i="$arg" ;;
      *) die "unknown option for logs: $arg" ;;
    esac
  done
  node_vars "$i"
  [[ -f "$SERVER_LOG" ]] || die "no log yet ($SERVER_LOG)"
  if (( follow )); then exec tail -n 100 -F "$SERVER_LOG"; fi
  tail -n 100 "$SERVER_LOG"
}

cmd_topics() {
  need java
  [[ -f "$STAMP" ]] || die "no jars yet; run: $0 fetch"
  local args=("$@")
  [[ " $* " == *" --bootstrap-server "* ]] || args=(--bootstrap-server "$(bootstrap)" "${args[@]}")
  local tools_log4j="$KHOME/tools-log4j.properties"
  cat >"$tools_log4j" <<'EOF'
log4j.rootLogger=WARN, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.Target=System.err
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n
EOF
  exec java -Xmx256m -Dlog4j.configuration="file:$tools_log4j" -cp "$LIBS/*" \
    org.apache.kafka.tools.TopicCommand "${args[@]}"
}

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'
}

case "${1:-}" in
  fetch)   shift; lock; cmd_fetch "$@" ;;
  up)      shift; cmd_up "$@" ;;
  down)    shift; cmd_down "$@" ;;
  status)  shift; cmd_status "$@" ;;
  brokers) shift; cmd_brokers "$@" ;;
  node)    shift; cmd_node "$@" ;;
  logs)    shift; cmd_logs "$@" ;;
  topics)  shift; cmd_topics "$@" ;;
  -h|--help|help) usage ;;
  *) usage >&2; exit 2 ;;
esac
