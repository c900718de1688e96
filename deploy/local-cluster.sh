#!/usr/bin/env bash
# A 3-node mcpd cluster on loopback, the same topology as deploy/compose/docker-compose.yml:
# three clustered nats-servers with JetStream (n1..n3) and three mcpd nodes (node-1..node-3),
# each listing all three NATS URLs, each with its own SQLite catalog, all with the example MCP
# servers everything, filesystem and memory registered.
#
#   deploy/local-cluster.sh up      [--dir DIR] [--build]   start it (or say it is already up)
#   deploy/local-cluster.sh status  [--dir DIR]             each process: alive or dead, pid, ports
#   deploy/local-cluster.sh down    [--dir DIR] [--purge]   stop it (--purge: delete its data too)
#   deploy/local-cluster.sh config  [--dir DIR]             write and check the configs, start nothing
#
# State (configs, logs, pid files, JetStream stores, catalogs) lives in .cluster/ at the repo
# root, or DIR. Environment:
#   MCPD_CLUSTER_BASE_PORT        first NATS client port (4222: 4222, 4223, 4224)
#   MCPD_CLUSTER_ROUTE_BASE_PORT  first NATS cluster (route) port (6222)
#   MCPD_CLUSTER_HTTP_BASE_PORT   first NATS monitoring port (8222)
#   MCPD_CLUSTER_DIR              the state directory (--dir wins)
#   MCPD_CLUSTER_TIMEOUT          seconds `up` waits for the cluster to be ready (60)
#   MCPD_CLUSTER_STOP_TIMEOUT     seconds `down` lets each mcpd drain before SIGKILL (40)
#   MCPD_BIN_DIR                  where mcpd and mcpctl are (build/bin; never built when set)
#   MCPD_LOG_LEVEL                mcpd log level (info)
# The ports of a running cluster are recorded in DIR/cluster.env; status and down use those.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TEMPLATES="$ROOT/deploy/cluster"
SERVERS_BIN="$ROOT/deploy/example-servers/node_modules/.bin"
NODES=(1 2 3)

die() {
  echo "local-cluster: $*" >&2
  exit 1
}
say() { echo "==> $*"; }

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
}

# ---------------------------------------------------------------------------------------------
# Arguments and settings

COMMAND="${1:-}"
[ "$#" -gt 0 ] && shift
DIR="${MCPD_CLUSTER_DIR:-$ROOT/.cluster}"
PURGE=0
FORCE_BUILD=0
while [ "$#" -gt 0 ]; do
  case "$1" in
    --dir) [ "$#" -ge 2 ] || die "--dir needs a directory"; DIR="$2"; shift 2 ;;
    --dir=*) DIR="${1#--dir=}"; shift ;;
    --purge) PURGE=1; shift ;;
    --build) FORCE_BUILD=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see $0 --help)" ;;
  esac
done
case "$COMMAND" in
  up | down | status | config) ;;
  -h | --help | help) usage; exit 0 ;;
  "") usage >&2; exit 2 ;;
  *) die "unknown command '$COMMAND': use up, down, status or config (see $0 --help)" ;;
esac
[ "$PURGE" -eq 0 ] || [ "$COMMAND" = down ] || die "--purge goes with down"
[ "$FORCE_BUILD" -eq 0 ] || [ "$COMMAND" = up ] || die "--build goes with up"

if [ "$COMMAND" = up ] || [ "$COMMAND" = config ]; then
  mkdir -p "$DIR" 2>/dev/null || die "cannot create the state directory $DIR"
elif [ ! -d "$DIR" ]; then
  echo "local-cluster: no cluster state in $DIR (nothing was started there)"
  [ "$COMMAND" = status ] && exit 3
  exit 0
fi
DIR="$(cd "$DIR" && pwd)"
case "$DIR" in
  *[\"\\]* | *$'\n'*) die "the state directory must not contain quotes, backslashes or newlines: $DIR" ;;
esac
STATE_FILE="$DIR/cluster.env"

BIN_DIR="${MCPD_BIN_DIR:-$ROOT/build/bin}"
MCPD="$BIN_DIR/mcpd"
MCPCTL="$BIN_DIR/mcpctl"
NATS_SERVER="$(command -v nats-server || echo /usr/sbin/nats-server)"
TIMEOUT="${MCPD_CLUSTER_TIMEOUT:-60}"
STOP_TIMEOUT="${MCPD_CLUSTER_STOP_TIMEOUT:-40}"
LOG_LEVEL="${MCPD_LOG_LEVEL:-info}"

is_port() { [[ "$1" =~ ^[0-9]+$ ]] && [ "$1" -ge 1 ] && [ "$1" -le 65533 ]; }

# Ports: those recorded by the last `up` while anything of it runs, else the environment.
CLIENT_BASE="${MCPD_CLUSTER_BASE_PORT:-4222}"
ROUTE_BASE="${MCPD_CLUSTER_ROUTE_BASE_PORT:-6222}"
HTTP_BASE="${MCPD_CLUSTER_HTTP_BASE_PORT:-8222}"
load_recorded_ports() {
  local key value
  [ -f "$STATE_FILE" ] || return 0
  while IFS='=' read -r key value; do
    is_port "$value" || continue
    case "$key" in
      CLIENT_BASE) CLIENT_BASE="$value" ;;
      ROUTE_BASE) ROUTE_BASE="$value" ;;
      HTTP_BASE) HTTP_BASE="$value" ;;
    esac
  done <"$STATE_FILE"
}
for var in CLIENT_BASE ROUTE_BASE HTTP_BASE; do
  is_port "${!var}" || die "$var=${!var} is not a port (1..65533; the cluster uses it and the next two)"
done

client_port() { echo $((CLIENT_BASE + $1 - 1)); }
route_port() { echo $((ROUTE_BASE + $1 - 1)); }
http_port() { echo $((HTTP_BASE + $1 - 1)); }
client_url() { echo "nats://127.0.0.1:$(client_port "$1")"; }
all_urls() { echo "$(client_url 1),$(client_url 2),$(client_url 3)"; }

nats_dir() { echo "$DIR/n$1"; }
mcpd_dir() { echo "$DIR/node-$1"; }
pid_file() { if [ "$1" = nats ]; then echo "$(nats_dir "$2")/nats.pid"; else echo "$(mcpd_dir "$2")/mcpd.pid"; fi; }
log_file() { if [ "$1" = nats ]; then echo "$(nats_dir "$2")/nats.log"; else echo "$(mcpd_dir "$2")/mcpd.log"; fi; }
label() { if [ "$1" = nats ]; then echo "nats-server n$2"; else echo "mcpd node-$2"; fi; }

# ---------------------------------------------------------------------------------------------
# Processes

# The pid recorded for KIND (nats|mcpd) node I, or nothing.
recorded_pid() {
  local f pid
  f="$(pid_file "$1" "$2")"
  [ -f "$f" ] || return 0
  read -r pid <"$f" || true
  [[ "${pid:-}" =~ ^[0-9]+$ ]] && echo "$pid"
  return 0
}

# Whether PID is alive and is KIND node I as we started it: its command line names that node's
# config file, so a recycled pid does not count.
pid_is() {
  local pid="$1" kind="$2" i="$3" cmdline config
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
  if [ "$kind" = nats ]; then config="$(nats_dir "$i")/nats.conf"; else config="$(mcpd_dir "$i")/mcpd.toml"; fi
  [[ "$cmdline" == *"$config"* ]]
}
alive() { pid_is "$(recorded_pid "$1" "$2")" "$1" "$2"; }

count_alive() {
  local n=0 kind i
  for kind in nats mcpd; do
    for i in "${NODES[@]}"; do
      if alive "$kind" "$i"; then n=$((n + 1)); fi
    done
  done
  echo "$n"
}

show_log() {  # show_log KIND I: the tail of a process's log, to stderr
  local log
  log="$(log_file "$1" "$2")"
  echo "--- $(label "$1" "$2"): last 30 lines of $log" >&2
  if [ -f "$log" ]; then tail -n 30 "$log" >&2; else echo "(no log)" >&2; fi
  echo "---" >&2
}

# Whether something accepts TCP connections on 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# GET http://127.0.0.1:PORT/PATH with bash alone (no curl needed); prints the response.
http_get() {
  (
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3
    timeout 5 cat <&3
  ) 2>/dev/null
}

# Whether the nats-server on client port PORT greets a client (its INFO line).
nats_greets() {
  local greeting
  greeting="$( (
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    timeout 2 head -c 4 <&3
  ) 2>/dev/null)" || return 1
  [ "$greeting" = INFO ]
}

routes_of() {  # the number of routes nats-server I has
  http_get "$(http_port "$1")" /routez | sed -n 's/.*"num_routes": *\([0-9][0-9]*\).*/\1/p' | head -n 1
}
meta_leader_of() {  # the JetStream meta leader as nats-server I sees it, or nothing
  http_get "$(http_port "$1")" /jsz | sed -n 's/.*"leader": *"\([^"][^"]*\)".*/\1/p' | head -n 1
}
# Which nats-server (n1..n3) mcpd node-J is connected to, or nothing.
connected_to() {
  local i
  for i in "${NODES[@]}"; do
    if http_get "$(http_port "$i")" "/connz?limit=1024" | grep -q "\"name\": *\"mcpd/node-$1\""; then
      echo "n$i"
      return 0
    fi
  done
}

# wait_until SECONDS WHAT CHECK...: runs CHECK until it succeeds; fails after SECONDS, or at
# once when a process of the cluster has died (with the tail of its log).
wait_until() {
  local deadline=$((SECONDS + $1)) what="$2" kind i
  shift 2
  until "$@"; do
    for kind in nats mcpd; do
      for i in "${NODES[@]}"; do
        if [ -f "$(pid_file "$kind" "$i")" ] && ! alive "$kind" "$i"; then
          show_log "$kind" "$i"
          die "$(label "$kind" "$i") exited while waiting for $what (log above; state in $DIR)"
        fi
      done
    done
    if [ "$SECONDS" -ge "$deadline" ]; then
      for i in "${NODES[@]}"; do show_log nats "$i"; done
      for i in "${NODES[@]}"; do [ -f "$(pid_file mcpd "$i")" ] && show_log mcpd "$i"; done
      die "timed out after $TIMEOUT s waiting for $what (logs above; MCPD_CLUSTER_TIMEOUT waits longer)"
    fi
    sleep 0.2
  done
}

# stop_wait KIND I SECONDS: waits up to SECONDS for KIND node I to exit (after a SIGTERM), then
# SIGKILLs it. Removes its pid file.
stop_wait() {
  local kind="$1" i="$2" limit="$3" pid deadline child
  pid="$(recorded_pid "$kind" "$i")"
  if pid_is "$pid" "$kind" "$i"; then
    deadline=$((SECONDS + limit))
    while pid_is "$pid" "$kind" "$i" && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
    if pid_is "$pid" "$kind" "$i"; then
      echo "local-cluster: $(label "$kind" "$i") (pid $pid) did not exit within $limit s: SIGKILL" >&2
      # mcpd starts each MCP server in a process group of its own: take those down with it.
      for child in $(cat /proc/"$pid"/task/*/children 2>/dev/null || true); do
        kill -KILL -- "-$child" 2>/dev/null || true
      done
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$(pid_file "$kind" "$i")"
}

# stop_all KIND SECONDS: SIGTERM to every KIND process that runs, then waits for each (so they
# stop in parallel).
stop_all() {
  local kind="$1" limit="$2" i pid
  for i in "${NODES[@]}"; do
    pid="$(recorded_pid "$kind" "$i")"
    if pid_is "$pid" "$kind" "$i"; then
      echo "    stopping $(label "$kind" "$i") (pid $pid)"
      kill -TERM "$pid" 2>/dev/null || true
    fi
  done
  for i in "${NODES[@]}"; do stop_wait "$kind" "$i" "$limit"; done
}

# ---------------------------------------------------------------------------------------------
# Configs

render() {  # render TEMPLATE OUT KEY=VALUE...: replaces every @KEY@
  local text pair
  text="$(<"$1")"
  local out="$2"
  shift 2
  for pair in "$@"; do
    text="${text//@${pair%%=*}@/"${pair#*=}"}"
  done
  printf '%s\n' "$text" >"$out"
}

write_configs() {
  local i j routes
  for i in "${NODES[@]}"; do
    mkdir -p "$(nats_dir "$i")/jetstream" "$(mcpd_dir "$i")"
    routes=""
    for j in "${NODES[@]}"; do
      [ "$j" = "$i" ] && continue
      routes+="${routes:+, }nats-route://127.0.0.1:$(route_port "$j")"
    done
    render "$TEMPLATES/nats.conf.tmpl" "$(nats_dir "$i")/nats.conf" \
      "NAME=n$i" "CLIENT_PORT=$(client_port "$i")" "ROUTE_PORT=$(route_port "$i")" \
      "HTTP_PORT=$(http_port "$i")" "ROUTES=$routes" "STORE_DIR=$(nats_dir "$i")/jetstream"
    render "$TEMPLATES/mcpd.toml.tmpl" "$(mcpd_dir "$i")/mcpd.toml" \
      "NODE_ID=node-$i" "NATS_URLS=$(all_urls)" "STORE_PATH=$(mcpd_dir "$i")/catalog.db" \
      "LOG_LEVEL=$LOG_LEVEL" "SERVERS_BIN=$SERVERS_BIN" "SCRATCH_DIR=$DIR/scratch" \
      "MEMORY_FILE=$DIR/memory.jsonl"
  done
  mkdir -p "$DIR/scratch"
  [ -f "$DIR/scratch/hello.txt" ] || echo "Hello from the mcpd local cluster." >"$DIR/scratch/hello.txt"
  printf 'CLIENT_BASE=%s\nROUTE_BASE=%s\nHTTP_BASE=%s\n' "$CLIENT_BASE" "$ROUTE_BASE" "$HTTP_BASE" >"$STATE_FILE"
}

check_configs() {
  local i out
  for i in "${NODES[@]}"; do
    out="$("$NATS_SERVER" -c "$(nats_dir "$i")/nats.conf" -t 2>&1)" ||
      die "$(nats_dir "$i")/nats.conf is not a valid nats-server config: $out"
    out="$(env -u MCPD_NATS_URL -u MCPD_STORE_PATH -u MCPD_NODE_ID -u MCPD_LOG_LEVEL \
      "$MCPD" --check --config "$(mcpd_dir "$i")/mcpd.toml" 2>&1)" ||
      die "$(mcpd_dir "$i")/mcpd.toml is not a valid mcpd config: $out"
  done
}

# ---------------------------------------------------------------------------------------------
# up

ensure_built() {
  local missing=()
  [ -x "$MCPD" ] || missing+=("$MCPD")
  [ -x "$MCPCTL" ] || missing+=("$MCPCTL")
  [ -x "$NATS_SERVER" ] || missing+=(nats-server)
  [ -x "$SERVERS_BIN/mcp-server-everything" ] || missing+=("the example MCP servers")
  if [ "${#missing[@]}" -eq 0 ] && [ "$FORCE_BUILD" -eq 0 ]; then return 0; fi
  if [ -n "${MCPD_BIN_DIR:-}" ] && { [ ! -x "$MCPD" ] || [ ! -x "$MCPCTL" ]; }; then
    die "MCPD_BIN_DIR=$MCPD_BIN_DIR has no mcpd and mcpctl (unset it to build them in build/)"
  fi
  [ "${#missing[@]}" -eq 0 ] || say "missing: ${missing[*]}; installing and building (scripts/setup.sh)"
  "$ROOT/scripts/setup.sh"
  NATS_SERVER="$(command -v nats-server || echo /usr/sbin/nats-server)"
  local build_dir
  build_dir="$(dirname "$BIN_DIR")"
  say "building mcpd and mcpctl ($build_dir)"
  cmake -S "$ROOT" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  ninja -C "$build_dir" mcpd mcpctl
}

STARTED=()  # "kind:i" of what this `up` started, stopped again if it fails
on_up_exit() {
  local rc=$? entry
  trap - EXIT
  if [ "$rc" -ne 0 ] && [ "${#STARTED[@]}" -gt 0 ]; then
    echo "local-cluster: up failed; stopping what it started (logs and data kept in $DIR)" >&2
    for entry in "${STARTED[@]}"; do
      kill -TERM "$(recorded_pid "${entry%%:*}" "${entry##*:}")" 2>/dev/null || true
    done
    for entry in "${STARTED[@]}"; do stop_wait "${entry%%:*}" "${entry##*:}" 20; done
  fi
  exit "$rc"
}

start() {  # start KIND I: in the background, in a session of its own, logging to its log file
  local kind="$1" i="$2" log pid deadline
  log="$(log_file "$kind" "$i")"
  echo "--- $(date '+%F %T') started by local-cluster.sh" >>"$log"
  if [ "$kind" = nats ]; then
    setsid "$NATS_SERVER" -c "$(nats_dir "$i")/nats.conf" </dev/null >>"$log" 2>&1 &
  else
    # The config file says everything; the environment would override it, so it is cleared.
    env -u MCPD_NATS_URL -u MCPD_STORE_PATH -u MCPD_NODE_ID -u MCPD_LOG_LEVEL \
      setsid "$MCPD" --config "$(mcpd_dir "$i")/mcpd.toml" </dev/null >>"$log" 2>&1 &
  fi
  pid=$!
  echo "$pid" >"$(pid_file "$kind" "$i")"
  STARTED+=("$kind:$i")
  # Until the program is exec'd, the pid is a copy of this shell: wait for that moment.
  deadline=$((SECONDS + 5))
  until pid_is "$pid" "$kind" "$i" || ! kill -0 "$pid" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; do sleep 0.01; done
  echo "    started $(label "$kind" "$i") (pid $pid, log $log)"
}

nats_ready() {  # every server takes clients, has routes to the two others and a JetStream meta leader
  local i
  for i in "${NODES[@]}"; do
    nats_greets "$(client_port "$i")" || return 1
    [ "$(routes_of "$i")" = 2 ] || return 1
    [ -n "$(meta_leader_of "$i")" ] || return 1
  done
}

mcpd_ready() {  # mcpd node-I says it serves, is connected, and the cluster answers through n_I
  local i="$1"
  grep -q "serving [0-9]* MCP servers" "$(log_file mcpd "$i")" 2>/dev/null || return 1
  [ -n "$(connected_to "$i")" ] || return 1
  "$MCPCTL" --nats "$(client_url "$i")" --timeout 2000 server ls >/dev/null 2>&1
}

print_usage_hint() {
  local ctl="${MCPCTL#"$ROOT"/}"
  cat <<MSG
    NATS:  $(all_urls)
    Try:
      MCPD_NATS_URL=$(client_url 1) $ctl call everything echo --args '{"message":"hi"}'
      MCPD_NATS_URL=$(client_url 2) $ctl server ls
      MCPD_NATS_URL=$(client_url 3) $ctl tools filesystem
    Logs:  $DIR/node-*/mcpd.log, $DIR/n*/nats.log
    $0 status | down [--purge]
MSG
}

cmd_up() {
  local i kind running
  running="$(count_alive)"
  if [ "$running" -gt 0 ]; then
    local want_client="$CLIENT_BASE" want_route="$ROUTE_BASE" want_http="$HTTP_BASE"
    load_recorded_ports
    if [ -n "${MCPD_CLUSTER_BASE_PORT:-}${MCPD_CLUSTER_ROUTE_BASE_PORT:-}${MCPD_CLUSTER_HTTP_BASE_PORT:-}" ] &&
      [ "$want_client/$want_route/$want_http" != "$CLIENT_BASE/$ROUTE_BASE/$HTTP_BASE" ]; then
      echo "local-cluster: a cluster runs in $DIR on its recorded ports (client $CLIENT_BASE, route $ROUTE_BASE, http $HTTP_BASE); the port settings are ignored" >&2
    fi
  fi
  if [ "$running" -eq 6 ]; then
    say "the cluster in $DIR is already up (6 processes alive)"
    print_usage_hint
    return 0
  fi
  ensure_built
  write_configs
  check_configs
  [ "$running" -eq 0 ] || say "$running of 6 processes already run; starting the others"

  trap on_up_exit EXIT
  say "starting 3 nats-servers (JetStream cluster 'mcpd')"
  for i in "${NODES[@]}"; do
    alive nats "$i" && continue
    rm -f "$(pid_file nats "$i")"
    for kind in client route http; do
      local port
      port="$("${kind}_port" "$i")"
      if port_open "$port"; then
        die "port $port (the $kind port of n$i) is already in use: stop what listens there, or pick other ports (MCPD_CLUSTER_BASE_PORT, MCPD_CLUSTER_ROUTE_BASE_PORT, MCPD_CLUSTER_HTTP_BASE_PORT)"
      fi
    done
    start nats "$i"
  done
  wait_until "$TIMEOUT" "the NATS cluster (client connections, 2 routes each, a JetStream meta leader)" nats_ready
  say "NATS cluster ready: JetStream meta leader $(meta_leader_of 1)"

  say "starting 3 mcpd nodes"
  for i in "${NODES[@]}"; do
    alive mcpd "$i" && continue
    rm -f "$(pid_file mcpd "$i")"
    start mcpd "$i"
  done
  for i in "${NODES[@]}"; do
    wait_until "$TIMEOUT" "mcpd node-$i to serve (and mcpctl to answer through n$i)" mcpd_ready "$i"
    echo "    mcpd node-$i serves (connected to $(connected_to "$i"))"
  done
  trap - EXIT
  say "the cluster is up (state in $DIR)"
  print_usage_hint
}

# ---------------------------------------------------------------------------------------------
# down, status, config

cmd_down() {
  load_recorded_ports
  local running
  running="$(count_alive)"
  if [ "$running" -eq 0 ]; then
    say "the cluster in $DIR is not running"
  else
    say "stopping 3 mcpd nodes (they drain in-flight calls; up to $STOP_TIMEOUT s)"
    stop_all mcpd "$STOP_TIMEOUT"
    say "stopping 3 nats-servers"
    stop_all nats 15
  fi
  local i
  for i in "${NODES[@]}"; do rm -f "$(pid_file nats "$i")" "$(pid_file mcpd "$i")"; done
  if [ "$PURGE" -eq 1 ]; then
    if [ -f "$STATE_FILE" ] || [ -z "$(ls -A "$DIR")" ]; then
      rm -rf "$DIR"
      say "purged $DIR"
    else
      die "not purging $DIR: it has no cluster.env, so it does not look like a local-cluster state directory"
    fi
  else
    say "stopped; data kept in $DIR (down --purge deletes it)"
  fi
}

cmd_status() {
  load_recorded_ports
  local i pid state n=0 leader="" via
  echo "cluster state: $DIR"
  for i in "${NODES[@]}"; do
    pid="$(recorded_pid nats "$i")"
    if pid_is "$pid" nats "$i"; then state=alive; n=$((n + 1)); elif [ -n "$pid" ]; then state=dead; else state=stopped; fi
    printf '  %-16s pid %-8s %-7s client %s  route %s  http %s\n' "nats-server n$i" "${pid:--}" "$state" \
      "$(client_port "$i")" "$(route_port "$i")" "$(http_port "$i")"
    [ "$state" != alive ] || [ -n "$leader" ] || leader="$(meta_leader_of "$i")"
  done
  for i in "${NODES[@]}"; do
    pid="$(recorded_pid mcpd "$i")"
    via=""
    if pid_is "$pid" mcpd "$i"; then
      state=alive
      n=$((n + 1))
      via="$(connected_to "$i")"
    elif [ -n "$pid" ]; then state=dead; else state=stopped; fi
    printf '  %-16s pid %-8s %-7s %s\n' "mcpd node-$i" "${pid:--}" "$state" \
      "${via:+connected to $via (client port $(client_port "${via#n}"))}" | sed 's/ *$//'
  done
  [ -z "$leader" ] || echo "JetStream meta leader: $leader"
  echo "$n of 6 processes alive"
  if [ "$n" -eq 6 ]; then return 0; elif [ "$n" -eq 0 ]; then return 3; else return 1; fi
}

cmd_config() {
  [ -x "$MCPD" ] || die "$MCPD is missing: build it first (deploy/local-cluster.sh up builds it)"
  [ -x "$NATS_SERVER" ] || die "nats-server is missing: run scripts/setup.sh"
  if [ "$(count_alive)" -gt 0 ]; then load_recorded_ports; fi
  write_configs
  check_configs
  local i
  for i in "${NODES[@]}"; do echo "$(nats_dir "$i")/nats.conf"; done
  for i in "${NODES[@]}"; do echo "$(mcpd_dir "$i")/mcpd.toml"; done
}

case "$COMMAND" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  config) cmd_config ;;
esac
