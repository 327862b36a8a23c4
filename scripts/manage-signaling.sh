#!/usr/bin/env bash
# Runs Pathfinder Signaling standalone (no Aspire) as a background process: `dotnet Pathfinder.Signaling.dll` from a
# `dotnet publish` output, configured by the environment exactly as in production (PEERJS_KEY, CORS_ORIGINS,
# KNOWN_PROXIES, ... pass through to the service; see docs/production.md).
#
#   scripts/manage-signaling.sh start | stop | restart | status
#
#   dotnet publish Pathfinder.Signaling -c Release -o artifacts/signaling -p:UseAppHost=false
#   dotnet artifacts/signaling/Pathfinder.Signaling.dll --generate-key > signaling.key   # keep it: every client needs it
#   PEERJS_KEY=$(cat signaling.key) scripts/manage-signaling.sh start
#
# start    starts the service unless it is running, then waits (bounded) until GET {path} answers 200. A port held by
#          another process is reported with that process (PID, command line) and what to do; nothing is started.
# stop     SIGTERM (graceful: open sockets are closed), then SIGKILL when it has not exited within the stop timeout.
# restart  stop, then start.
# status   PID, URL, uptime and the answer of GET /health.
#
# Settings (environment variables):
#   PEERJS_PORT              9000         port the service listens on (all interfaces) and that this script probes
#   PEERJS_PATH              /pathfinder  mount path of the PeerJS API; the WebSocket is {path}/peerjs
#   SIGNALING_APP_DIR        folder holding Pathfinder.Signaling.dll: this script's folder when the dll is beside it,
#                            else <repo>/artifacts/signaling (the publish command above)
#   SIGNALING_RUN_DIR        <repo>/artifacts/run, or /tmp/pathfinder-signaling outside the repository
#   SIGNALING_PID_FILE       $SIGNALING_RUN_DIR/signaling-$PEERJS_PORT.pid   (one instance per port)
#   SIGNALING_LOG_FILE       $SIGNALING_RUN_DIR/signaling-$PEERJS_PORT.log   (stdout and stderr, appended)
#   SIGNALING_START_TIMEOUT  30           seconds start waits for GET {path}; on timeout the process is stopped
#   SIGNALING_STOP_TIMEOUT   20           seconds stop waits after SIGTERM before SIGKILL
#   DOTNET                   dotnet       the dotnet host to run the dll with
# ASPNETCORE_URLS / ASPNETCORE_HTTP_PORTS / ASPNETCORE_HTTPS_PORTS / DOTNET_URLS are removed from the service's
# environment, so the port this script probes is the port the service serves. With TLS_CERT_PATH set the service and
# the probes use https (curl needed).
#
# Exit codes:
#   start/restart  0 started (or already running)  1 failed to start (the log's last lines are shown)
#                  2 usage or bad setting  5 Pathfinder.Signaling.dll not found  6 port in use by another process
#   stop           0 stopped (or was not running)  1 could not stop it
#   status         0 running and /health Healthy  1 not running but the PID file remains (crashed or killed)
#                  3 not running  4 running but not answering or not Healthy
set -uo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$script_dir/.." && pwd)
service_dll=Pathfinder.Signaling.dll

die() { # code message...
  local code=$1
  shift
  printf '%s\n' "$@" >&2
  exit "$code"
}

port=${PEERJS_PORT:-9000}
if ! [[ $port =~ ^[0-9]{1,5}$ ]] || ((10#$port < 1 || 10#$port > 65535)); then
  die 2 "PEERJS_PORT must be a port number between 1 and 65535, got '$port'"
fi
port=$((10#$port))

path=${PEERJS_PATH:-/pathfinder}
path=${path%/}
[[ $path == /* ]] || path="/$path"
if [[ $path =~ [[:space:]?#] ]]; then
  die 2 "PEERJS_PATH must be a URL path such as /pathfinder, got '$PEERJS_PATH'"
fi
api_path=${path:-/}

if [ -n "${SIGNALING_APP_DIR:-}" ]; then
  app_dir=$SIGNALING_APP_DIR
elif [ -f "$script_dir/$service_dll" ]; then
  app_dir=$script_dir
else
  app_dir=$repo_root/artifacts/signaling
fi

if [ -n "${SIGNALING_RUN_DIR:-}" ]; then
  run_dir=$SIGNALING_RUN_DIR
elif [ -f "$repo_root/Pathfinder.sln" ]; then
  run_dir=$repo_root/artifacts/run
else
  run_dir=${TMPDIR:-/tmp}/pathfinder-signaling
fi
pid_file=${SIGNALING_PID_FILE:-$run_dir/signaling-$port.pid}
log_file=${SIGNALING_LOG_FILE:-$run_dir/signaling-$port.log}
start_timeout=${SIGNALING_START_TIMEOUT:-30}
stop_timeout=${SIGNALING_STOP_TIMEOUT:-20}
dotnet_host=${DOTNET:-dotnet}
for setting in start_timeout stop_timeout; do
  [[ ${!setting} =~ ^[0-9]+$ ]] || die 2 "SIGNALING_${setting^^} must be a whole number of seconds, got '${!setting}'"
done

scheme=http
[ -n "${TLS_CERT_PATH:-}" ] && scheme=https
url="$scheme://localhost:$port$path"
socket_url="${scheme/http/ws}://localhost:$port$path/peerjs"

# --- processes -------------------------------------------------------------------------------------------------

# A live process (a zombie is dead: it only waits to be reaped).
alive() {
  local state
  [ -n "${1:-}" ] && [ -r "/proc/$1/stat" ] || return 1
  state=$(sed -E 's/^.*\) ([A-Za-z]).*$/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

command_line() {
  tr '\0\n' '  ' <"/proc/$1/cmdline" 2>/dev/null | sed 's/ $//'
}

is_service() {
  [[ $(command_line "$1") == *Pathfinder.Signaling* ]]
}

read_pid() {
  local pid
  [ -f "$pid_file" ] || return 1
  pid=$(tr -dc '0-9' <"$pid_file")
  [ -n "$pid" ] || return 1
  echo "$pid"
}

uptime_of() {
  ps -o etime= -p "$1" 2>/dev/null | tr -d ' '
}

# --- the port --------------------------------------------------------------------------------------------------

# Prints the PIDs of the processes listening on TCP port $1 (one a line; "?" when the port is taken by a process this
# user may not see). Status 1 when nobody listens. `ss -ltnp` first, /proc/net/tcp{,6} and /proc/*/fd otherwise
# (SIGNALING_PORT_PROBE=proc forces the latter).
port_holders() {
  local p=$1 out pids
  if [ "${SIGNALING_PORT_PROBE:-ss}" != proc ] && command -v ss >/dev/null 2>&1; then
    out=$(ss -Hltnp "sport = :$p" 2>/dev/null) || out=""
    [ -n "$out" ] || return 1
    pids=$(grep -o 'pid=[0-9]*' <<<"$out" | cut -d= -f2 | sort -un)
    if [ -n "$pids" ]; then echo "$pids"; else echo "?"; fi
    return 0
  fi
  local hex inodes inode match=() found
  hex=$(printf '%04X' "$p")
  # local_address is "ADDR:PORT" (hex), st 0A = LISTEN; field 10 is the socket inode.
  inodes=$(cat /proc/net/tcp /proc/net/tcp6 2>/dev/null |
    awk -v port="$hex" 'NR > 1 && $4 == "0A" { split($2, a, ":"); if (toupper(a[2]) == port) print $10 }' | sort -u)
  [ -n "$inodes" ] || return 1
  for inode in $inodes; do
    match+=(${match[@]:+-o} -lname "socket:\[$inode\]")
  done
  found=$(find /proc/[0-9]*/fd -mindepth 1 -maxdepth 1 \( "${match[@]}" \) 2>/dev/null | cut -d/ -f3 | sort -un)
  if [ -n "$found" ]; then echo "$found"; else echo "?"; fi
}

all_service() { # pids (newline-separated): all of them are Pathfinder Signaling
  local pid
  [ "$1" != "?" ] || return 1
  while read -r pid; do
    is_service "$pid" || return 1
  done <<<"$1"
}

describe_holders() { # pids (newline-separated) → one line each
  local pid
  while read -r pid; do
    if [ "$pid" = "?" ]; then
      echo "  a process this user cannot see (as root: ss -ltnp 'sport = :$port')"
    else
      echo "  PID $pid: $(command_line "$pid")"
    fi
  done <<<"$1"
}

# --- HTTP --------------------------------------------------------------------------------------------------------

# GET http(s)://127.0.0.1:$port$1 → sets http_status (e.g. 200, or 000 when nothing answered) and http_body.
# curl when present (SIGNALING_HTTP_CLIENT=bash forces bash's /dev/tcp, plain http only); every probe is bounded.
http_get() {
  local target=$1 raw
  http_status=000
  http_body=""
  if [ "${SIGNALING_HTTP_CLIENT:-curl}" != bash ] && command -v curl >/dev/null 2>&1; then
    raw=$(curl -sS -k --max-time 3 -w '\n%{http_code}' "$scheme://127.0.0.1:$port$target" 2>/dev/null) || raw=$'\n000'
    http_status=${raw##*$'\n'}
    http_body=${raw%$'\n'*}
  else
    [ "$scheme" = http ] || return 1
    # HTTP/1.0: the server closes after one response and never chunks it.
    # shellcheck disable=SC2016 # expanded by the inner bash
    raw=$(timeout 4 bash -c '
      exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
      printf "GET %s HTTP/1.0\r\nHost: localhost:%s\r\n\r\n" "$2" "$1" >&3
      cat <&3' probe "$port" "$target" 2>/dev/null | tr -d '\r') || true
    [ -n "$raw" ] || return 1
    http_status=$(head -n 1 <<<"$raw" | awk '{ print $2 }')
    http_body=$(sed '1,/^$/d' <<<"$raw")
  fi
  [ "$http_status" != 000 ]
}

# --- actions ---------------------------------------------------------------------------------------------------

log_tail() { # [from-byte]: the last lines written since that offset
  [ -f "$log_file" ] || return 0
  echo "--- last lines of $log_file ---"
  tail -c "+$((${1:-0} + 1))" "$log_file" | tail -n 20
  echo "---"
}

# Sends SIGTERM, waits, then SIGKILL. Status 1 when the process is still there.
terminate() {
  local pid=$1 waited=0
  kill -TERM "$pid" 2>/dev/null || true
  while alive "$pid" && ((waited < stop_timeout * 5)); do
    sleep 0.2
    waited=$((waited + 1))
  done
  if alive "$pid"; then
    echo "PID $pid did not exit within ${stop_timeout}s of SIGTERM: sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    waited=0
    while alive "$pid" && ((waited < 50)); do
      sleep 0.1
      waited=$((waited + 1))
    done
  fi
  ! alive "$pid"
}

do_stop() {
  local pid
  if ! pid=$(read_pid); then
    echo "Pathfinder Signaling is not running on port $port (no PID file at $pid_file)"
    return 0
  fi
  if ! alive "$pid"; then
    rm -f "$pid_file"
    echo "Pathfinder Signaling is not running on port $port (PID $pid is gone; removed the stale PID file)"
    return 0
  fi
  if ! is_service "$pid"; then
    rm -f "$pid_file"
    echo "PID $pid is not Pathfinder Signaling ($(command_line "$pid")): left it alone and removed the stale PID file"
    return 0
  fi
  echo "Stopping Pathfinder Signaling (PID $pid): SIGTERM, SIGKILL after ${stop_timeout}s"
  if terminate "$pid"; then
    rm -f "$pid_file"
    echo "Stopped (PID $pid)"
    return 0
  fi
  echo "Could not stop PID $pid; it is still running" >&2
  return 1
}

do_start() {
  local pid holders log_start waited
  if pid=$(read_pid) && alive "$pid" && is_service "$pid"; then
    echo "Pathfinder Signaling is already running: PID $pid, $url"
    return 0
  fi
  if [ -f "$pid_file" ]; then
    echo "Removing the stale PID file $pid_file (PID ${pid:-?} is not running)"
    rm -f "$pid_file"
  fi

  if [ ! -f "$app_dir/$service_dll" ]; then
    printf '%s\n' "Cannot start: $app_dir/$service_dll not found." \
      "Publish the service first:  dotnet publish Pathfinder.Signaling -c Release -o artifacts/signaling -p:UseAppHost=false" \
      "or point SIGNALING_APP_DIR at a folder that holds $service_dll." >&2
    return 5
  fi
  command -v "$dotnet_host" >/dev/null 2>&1 || {
    echo "Cannot start: '$dotnet_host' not found (install the ASP.NET Core 10 runtime or set DOTNET)" >&2
    return 5
  }

  if holders=$(port_holders "$port"); then
    {
      echo "Cannot start: port $port is already in use by"
      describe_holders "$holders"
      if all_service "$holders"; then
        echo "That is a Pathfinder Signaling process this script did not start (no PID file at $pid_file)."
      fi
      echo "Stop that process (kill <PID>, or stop the service that owns it, e.g. systemctl stop pathfinder-signaling),"
      echo "or start on another port: PEERJS_PORT=$((port == 65535 ? 9001 : port + 1)) $0 start"
    } >&2
    return 6
  fi

  mkdir -p "$(dirname "$pid_file")" "$(dirname "$log_file")" || return 1
  touch "$log_file" || return 1
  log_start=$(stat -c %s "$log_file")
  echo "=== $(date -u +%Y-%m-%dT%H:%M:%SZ) start: $app_dir/$service_dll on port $port ===" >>"$log_file"

  local detach=()
  command -v setsid >/dev/null 2>&1 && detach=(setsid)
  # A new session (no terminal, no hang-up on logout); stdin from /dev/null and output to the log, so nothing keeps
  # the caller's terminal or pipes open.
  (
    cd "$app_dir" || exit 1
    exec env -u ASPNETCORE_URLS -u ASPNETCORE_HTTP_PORTS -u ASPNETCORE_HTTPS_PORTS -u DOTNET_URLS \
      PEERJS_PORT="$port" PEERJS_PATH="$api_path" "${detach[@]}" "$dotnet_host" "$service_dll"
  ) >>"$log_file" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$pid_file"
  echo "Starting Pathfinder Signaling (PID $pid) on port $port, waiting up to ${start_timeout}s for GET $api_path ..."

  waited=0
  while :; do
    if ! alive "$pid"; then
      wait "$pid" 2>/dev/null
      local code=$?
      rm -f "$pid_file"
      echo "Pathfinder Signaling exited during start-up (exit code $code)" >&2
      log_tail "$log_start" >&2
      return 1
    fi
    if http_get "$api_path" && [ "$http_status" = 200 ]; then
      break
    fi
    if ((waited >= start_timeout * 5)); then
      echo "Pathfinder Signaling did not answer GET $api_path within ${start_timeout}s (last status: $http_status); stopping it" >&2
      log_tail "$log_start" >&2
      terminate "$pid" >&2
      rm -f "$pid_file"
      return 1
    fi
    sleep 0.2
    waited=$((waited + 1))
  done

  echo "Pathfinder Signaling is running"
  echo "  PID:    $pid"
  echo "  URL:    $url"
  echo "  Socket: $socket_url"
  echo "  Log:    $log_file"
  echo "  PID file: $pid_file"
  return 0
}

do_status() {
  local pid holders health
  if ! pid=$(read_pid); then
    echo "Pathfinder Signaling is not running on port $port (no PID file at $pid_file)"
    if holders=$(port_holders "$port"); then
      echo "Port $port is in use by"
      describe_holders "$holders"
    fi
    return 3
  fi
  if ! alive "$pid" || ! is_service "$pid"; then
    echo "Pathfinder Signaling is not running, but $pid_file names PID $pid (crashed or killed?)"
    log_tail
    return 1
  fi

  echo "Pathfinder Signaling is running"
  echo "  PID:    $pid (up $(uptime_of "$pid"))"
  echo "  URL:    $url"
  echo "  Socket: $socket_url"
  echo "  Log:    $log_file"
  if http_get /health; then
    health=$(tr -d '\r\n' <<<"$http_body")
    echo "  Health: GET /health -> $http_status ${health:-?}"
    [ "$http_status" = 200 ] && [ "$health" = Healthy ] && return 0
    return 4
  fi
  echo "  Health: GET /health -> no answer"
  return 4
}

case "${1:-}" in
  start) do_start ;;
  stop) do_stop ;;
  restart)
    do_stop || exit 1
    do_start
    ;;
  status) do_status ;;
  *)
    echo "usage: $0 start|stop|restart|status   (settings: see the header of this script)" >&2
    exit 2
    ;;
esac
