#!/usr/bin/env bash
# Local single-node Apache Kafka broker (KRaft, combined broker+controller) on 127.0.0.1,
# run from jars fetched from Maven Central with Maven. No Docker, no ZooKeeper.
#
#   deploy/kafka/kafka.sh fetch            download the broker jars (once; idempotent)
#   deploy/kafka/kafka.sh up [--fresh]     start (fetch/format if needed); --fresh wipes data first
#   deploy/kafka/kafka.sh down             stop (SIGTERM, then SIGKILL after 30 s)
#   deploy/kafka/kafka.sh status           running/stopped, pid, port, RSS; exit 0 running, 3 stopped
#   deploy/kafka/kafka.sh logs [-f]        tail the server log (-f follows)
#   deploy/kafka/kafka.sh topics ARGS...   org.apache.kafka.tools.TopicCommand against this broker,
#                                          e.g. topics --create --topic t --partitions 3
#
# Environment:
#   PERFLEDGER_KAFKA_HOME             state dir (default <repo>/.kafka)
#   PERFLEDGER_KAFKA_PORT             client listener port (default 19092)
#   PERFLEDGER_KAFKA_CONTROLLER_PORT  KRaft controller port (default 19093)
#   PERFLEDGER_KAFKA_VERSION          Kafka version to fetch (default 3.9.2, falls back to 3.9.1)
#   PERFLEDGER_KAFKA_START_TIMEOUT    seconds `up` waits for readiness (default 60)
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd -P)"
POM="$SCRIPT_DIR/pom.xml"

KHOME="${PERFLEDGER_KAFKA_HOME:-$REPO_ROOT/.kafka}"
PORT="${PERFLEDGER_KAFKA_PORT:-19092}"
CPORT="${PERFLEDGER_KAFKA_CONTROLLER_PORT:-19093}"
DEFAULT_VERSION="3.9.2"
FALLBACK_VERSION="3.9.1"
VERSION="${PERFLEDGER_KAFKA_VERSION:-$DEFAULT_VERSION}"
START_TIMEOUT="${PERFLEDGER_KAFKA_START_TIMEOUT:-60}"
STOP_TIMEOUT=30

say() { printf 'kafka: %s\n' "$*"; }
die() { printf 'kafka: error: %s\n' "$*" >&2; exit 1; }

# Absolute state paths (a relative PERFLEDGER_KAFKA_HOME is taken relative to the caller's cwd).
# The directory itself is only created by fetch/up, never by status/logs/down/help.
[[ "$KHOME" == /* ]] || KHOME="$PWD/$KHOME"
KHOME="${KHOME%/}"
LIBS="$KHOME/libs"
STAMP="$LIBS/.fetched"
DATA="$KHOME/data"
LOGS="$KHOME/logs"
SERVER_LOG="$LOGS/server.log"
STDOUT_LOG="$LOGS/kafka.out"
PIDFILE="$KHOME/kafka.pid"
SERVER_PROPS="$KHOME/server.properties"
LOG4J_PROPS="$KHOME/log4j.properties"

[[ "$PORT" =~ ^[0-9]+$ && "$CPORT" =~ ^[0-9]+$ ]] || die "ports must be numeric (got $PORT / $CPORT)"
[[ "$PORT" != "$CPORT" ]] || die "client and controller ports must differ ($PORT)"

need() { command -v "$1" >/dev/null 2>&1 || die "'$1' not found on PATH (run deploy/install-deps.sh as root)"; }

# Serialise fetch/up/down against each other (e.g. two test runners calling `up` at once).
lock() {
  mkdir -p "$KHOME"
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$KHOME/.lock"
    flock -w 180 9 || die "timed out waiting for $KHOME/.lock"
  fi
}

# Echo the broker pid if our broker (this KHOME) is alive; stale pid files are ignored.
running_pid() {
  local pid
  [[ -s "$PIDFILE" ]] || return 1
  pid="$(<"$PIDFILE")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  # Guard against pid reuse: the process must be kafka.Kafka with our server.properties.
  local cmdline
  cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
  [[ "$cmdline" == *"kafka.Kafka $SERVER_PROPS"* ]] || return 1
  echo "$pid"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

rss_mb() { awk '/^VmRSS:/ { printf "%d", $2 / 1024 }' "/proc/$1/status" 2>/dev/null || echo "?"; }

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

write_configs() {
  mkdir -p "$DATA" "$LOGS"
  cat >"$SERVER_PROPS" <<EOF
# Generated by deploy/kafka/kafka.sh on every 'up' -- edits are overwritten.
# Single-node KRaft broker+controller for local tests.
node.id=1
process.roles=broker,controller
controller.quorum.voters=1@127.0.0.1:$CPORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CPORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$DATA

# One broker: every internal topic must have replication factor 1 / min ISR 1,
# otherwise consumer groups and transactions cannot work.
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
default.replication.factor=1
min.insync.replicas=1
group.initial.rebalance.delay.ms=0

# Topics are created explicitly by the tests/services.
auto.create.topics.enable=false
num.partitions=1
delete.topic.enable=true

# Keep a test broker light: fewer threads, a smaller log-cleaner buffer (default 128 MB of heap).
num.network.threads=2
num.io.threads=4
log.cleaner.dedupe.buffer.size=16777216

# After a crash (kill -9) the old broker registration blocks the new one until the broker's
# heartbeat lease expires (default 9 s); a 4 s lease lets a restarted broker register sooner.
broker.session.timeout.ms=4000
broker.heartbeat.interval.ms=1000
EOF
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

format_storage() {
  if [[ -f "$DATA/meta.properties" ]]; then
    return 0
  fi
  rm -rf "$DATA"
  mkdir -p "$DATA"
  local cid
  cid="$(java -cp "$LIBS/*" kafka.tools.StorageTool random-uuid 2>>"$LOGS/format.log" | tail -n 1)"
  [[ -n "$cid" ]] || die "StorageTool random-uuid failed (see $LOGS/format.log)"
  java -Dkafka.logs.dir="$LOGS" -Dlog4j.configuration="file:$LOG4J_PROPS" -cp "$LIBS/*" \
    kafka.tools.StorageTool format -t "$cid" -c "$SERVER_PROPS" >>"$LOGS/format.log" 2>&1 \
    || { tail -n 20 "$LOGS/format.log" >&2; die "StorageTool format failed"; }
  say "formatted fresh data dir $DATA (cluster id $cid)"
}

# Is the client listener answering Kafka metadata requests?
broker_answers() {
  if command -v kcat >/dev/null 2>&1; then
    kcat -b "127.0.0.1:$PORT" -L -m "${1:-5}" >/dev/null 2>&1
  else
    port_open "$PORT"
  fi
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
  local pid
  if pid="$(running_pid)"; then
    if (( fresh )); then
      say "--fresh: stopping the running broker first"
      stop_broker "$pid"
    else
      say "already running (pid $pid, 127.0.0.1:$PORT)"
      return 0
    fi
  fi
  local t0=$EPOCHREALTIME
  need java
  command -v kcat >/dev/null 2>&1 || say "warning: kcat not found; readiness falls back to a TCP probe"
  rm -f "$PIDFILE"
  local p
  for p in "$PORT" "$CPORT"; do
    if port_open "$p"; then
      die "127.0.0.1:$p is already in use by another process (set PERFLEDGER_KAFKA_PORT / PERFLEDGER_KAFKA_CONTROLLER_PORT)"
    fi
  done
  cmd_fetch
  if (( fresh )); then
    say "--fresh: wiping $DATA"
    rm -rf "$DATA"
  fi
  write_configs
  format_storage

  # Only look at log lines written by this start (the log is appended across restarts).
  local log_offset=0
  [[ -f "$SERVER_LOG" ]] && log_offset="$(stat -c %s "$SERVER_LOG")"

  say "starting kafka $(installed_version) on 127.0.0.1:$PORT (controller $CPORT), home $KHOME"
  pid=""
  # setsid + nohup: the broker runs detached and survives the calling shell.
  # The child writes its own pid and then execs java, so the pid file is exact.
  nohup setsid bash -c 'echo $$ >"$0"; exec "$@"' "$PIDFILE" \
    java -Xmx512m -Xms256m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError \
      -Djava.awt.headless=true \
      -Dkafka.logs.dir="$LOGS" -Dlog4j.configuration="file:$LOG4J_PROPS" \
      -cp "$LIBS/*" kafka.Kafka "$SERVER_PROPS" \
    >>"$STDOUT_LOG" 2>&1 </dev/null 9>&- &   # 9>&-: the broker must not inherit the flock

  local deadline=$(( ${t0%.*} + START_TIMEOUT )) started=0
  while :; do
    if [[ -z "${pid:-}" && -s "$PIDFILE" ]]; then pid="$(<"$PIDFILE")"; fi
    if [[ -n "${pid:-}" ]] && ! kill -0 "$pid" 2>/dev/null; then
      start_failed "the broker process exited during start-up"
    fi
    if (( ! started )) && [[ -f "$SERVER_LOG" ]]; then
      local size; size="$(stat -c %s "$SERVER_LOG")"
      (( size < log_offset )) && log_offset=0   # log rolled over
      # (process substitution, not a pipe: with pipefail, grep -q could make tail's SIGPIPE fail it)
      grep -q 'Kafka Server started' < <(tail -c +"$((log_offset + 1))" "$SERVER_LOG") && started=1
    fi
    if (( started )) && broker_answers 5; then
      break
    fi
    if (( ${EPOCHREALTIME%.*} >= deadline )); then
      start_failed "not ready after ${START_TIMEOUT}s"
    fi
    sleep 0.2
  done
  local secs
  secs="$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')"
  say "up in ${secs}s (pid $pid, 127.0.0.1:$PORT, rss $(rss_mb "$pid") MB)"
}

start_failed() {
  printf 'kafka: error: %s; last 40 lines of %s:\n' "$1" "$SERVER_LOG" >&2
  if [[ -f "$SERVER_LOG" ]]; then tail -n 40 "$SERVER_LOG" >&2; fi
  if [[ -s "$STDOUT_LOG" ]]; then
    printf 'kafka: last 10 lines of %s:\n' "$STDOUT_LOG" >&2
    tail -n 10 "$STDOUT_LOG" >&2
  fi
  local pid
  if pid="$(running_pid)"; then
    say "stopping the half-started broker (pid $pid)" >&2
    stop_broker "$pid" >&2
  fi
  rm -f "$PIDFILE"
  exit 1
}

stop_broker() {
  local pid="$1" i
  say "stopping (pid $pid, SIGTERM) ..."
  kill -TERM "$pid" 2>/dev/null || true
  for (( i = 0; i < STOP_TIMEOUT * 5; i++ )); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "still alive after ${STOP_TIMEOUT}s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for (( i = 0; i < 50; i++ )); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
  fi
  rm -f "$PIDFILE"
  say "stopped"
}

cmd_down() {
  if [[ ! -d "$KHOME" ]]; then
    say "not running"
    return 0
  fi
  lock
  local pid
  if pid="$(running_pid)"; then
    stop_broker "$pid"
  else
    rm -f "$PIDFILE"
    say "not running"
  fi
}

cmd_status() {
  local pid
  if pid="$(running_pid)"; then
    local ready=no
    broker_answers 2 && ready=yes
    say "running: pid $pid, 127.0.0.1:$PORT (controller $CPORT), rss $(rss_mb "$pid") MB, ready $ready, version $(installed_version), home $KHOME"
    return 0
  fi
  say "stopped (home $KHOME)"
  return 3
}

cmd_logs() {
  [[ -f "$SERVER_LOG" ]] || die "no log yet ($SERVER_LOG)"
  case "${1:-}" in
    -f) exec tail -n 100 -F "$SERVER_LOG" ;;
    "") tail -n 100 "$SERVER_LOG" ;;
    *) die "unknown option for logs: $1" ;;
  esac
}

cmd_topics() {
  need java
  [[ -f "$STAMP" ]] || die "no jars yet; run: $0 fetch"
  local args=("$@")
  [[ " $* " == *" --bootstrap-server "* ]] || args=(--bootstrap-server "127.0.0.1:$PORT" "${args[@]}")
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
  sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

case "${1:-}" in
  fetch)  shift; lock; cmd_fetch "$@" ;;
  up)     shift; cmd_up "$@" ;;
  down)   shift; cmd_down "$@" ;;
  status) shift; cmd_status "$@" ;;
  logs)   shift; cmd_logs "$@" ;;
  topics) shift; cmd_topics "$@" ;;
  -h|--help|help) usage ;;
  *) usage >&2; exit 2 ;;
esac
