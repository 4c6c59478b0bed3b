# Shared by compare.sh and run-all.sh (sourced, not run): the machine's description and a
# fresh perfledgerd per run.
#
#   pl_machine                          one line: cores, CPU model, memory, kernel
#   pl_disk DIR                         one line: the device, file system and kind of disk under DIR
#   pl_start_server BIN DIR PORT [ARGS...]
#                                       starts BIN on a fresh DIR/data, listening on 127.0.0.1:PORT,
#                                       log in DIR/server.log; waits (<= 60 s) for "serving on";
#                                       sets PL_SERVER_PID and PL_SERVER_CMD (the command, quoted)
#   pl_stop_server                      SIGTERM, then waits for the exit

pl_machine() {
  echo "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(awk '/MemTotal/ {printf "%.0f GB", $2/1048576}' /proc/meminfo), $(uname -sr)"
}

pl_disk() {
  local src fstype dev rota size
  read -r src fstype < <(findmnt -no SOURCE,FSTYPE -T "$1" 2>/dev/null || echo "? ?")
  dev=$(basename "$src")
  rota=$(cat "/sys/block/$dev/queue/rotational" 2>/dev/null || echo '?')
  size=$(lsblk -dno SIZE "$src" 2>/dev/null | tr -d ' ' || true)
  case $rota in
    0) rota="sysfs rotational=0" ;;
    1) rota="sysfs rotational=1" ;;
    *) rota="sysfs rotational=?" ;;
  esac
  echo "$src ${size:-?} $fstype, $rota"
}

pl_start_server() {
  local bin=$1 dir=$2 port=$3
  shift 3
  mkdir -p "$dir"
  local -a cmd=("$bin" --data-dir "$dir/data" --listen "127.0.0.1:$port" "$@")
  PL_SERVER_CMD=$(printf '%q ' "${cmd[@]}")
  PL_SERVER_CMD=${PL_SERVER_CMD% }
  "${cmd[@]}" >"$dir/server.log" 2>&1 &
  PL_SERVER_PID=$!
  for _ in $(seq 600); do
    grep -q "serving on" "$dir/server.log" 2>/dev/null && return 0
    kill -0 "$PL_SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "perfledgerd did not start (log: $dir/server.log):" >&2
  tail -n 20 "$dir/server.log" >&2
  kill "$PL_SERVER_PID" 2>/dev/null || true
  return 1
}

pl_stop_server() {
  [[ -n ${PL_SERVER_PID:-} ]] || return 0
  kill "$PL_SERVER_PID" 2>/dev/null || true
  wait "$PL_SERVER_PID" 2>/dev/null || true
  PL_SERVER_PID=
}
