#!/usr/bin/env bash
# The MCP client the conformance suite tests: `conformance client --command "bash run-client.sh"`
# runs `run-client.sh <server-url>` with MCP_CONFORMANCE_SCENARIO set, against a mock server of
# that scenario, and judges what reached the mock server.
#
# It exercises mcpd's own client code the way it runs in production: a nats-server on a free
# loopback port, build/bin/mcpd with a temporary config that registers <server-url> as the
# Streamable HTTP server "conf" (minSessions = 1, so the daemon opens the MCP session itself),
# then mcpctl over NATS does what the scenario asks (list the tools, call one). Everything it
# started is stopped on exit, even when the harness kills it on its timeout.
#
# Binaries: $MCPD_BIN_DIR if set (ctest sets it), else build/bin beside this repository.
# MCPD_CONFORMANCE_CLIENT=probe drives the scenario with `mcpctl probe` instead (no daemon).
# Logs: kept under $MCPD_CONFORMANCE_KEEP (a directory) if set, else printed (tail) on failure.
set -uo pipefail

URL="${1:-}"
SCENARIO="${MCP_CONFORMANCE_SCENARIO:-}"
if [ -z "$URL" ]; then
  echo "usage: MCP_CONFORMANCE_SCENARIO=<scenario> $0 <server-url>" >&2
  exit 2
fi
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="${MCPD_BIN_DIR:-$ROOT/build/bin}"
MCPD="$BIN/mcpd" MCPCTL="$BIN/mcpctl"

fail() {
  echo "run-client: $*" >&2
  exit 1
}
{ [ -x "$MCPD" ] && [ -x "$MCPCTL" ]; } ||
  fail "no mcpd/mcpctl in $BIN: build them first (cmake -S . -B build -G Ninja && ninja -C build mcpd mcpctl)"
NATS_SERVER="$(command -v nats-server || true)"
[ -n "$NATS_SERVER" ] || NATS_SERVER=/usr/sbin/nats-server
[ -x "$NATS_SERVER" ] || fail "nats-server is not installed (apt-get install nats-server)"

# MCPD_CONFORMANCE_CLIENT=probe: the same scenarios driven by `mcpctl probe` alone, straight
# to the server with no daemon and no NATS (the same transport and session code, opened by
# mcpctl itself): proves the command a person runs before registering a server.
if [ "${MCPD_CONFORMANCE_CLIENT:-daemon}" = "probe" ]; then
  probe() {
    echo "+ mcpctl probe --url $URL $*"
    "$MCPCTL" probe --url "$URL" --timeout 15000 "$@"
  }
  case "$SCENARIO" in
    tools_call) probe --call add_numbers --args '{"a": 5, "b": 3}' ;;
    sse-retry) probe --call test_reconnection ;;
    elicitation-sep1034-client-defaults) probe --call test_client_elicitation_defaults ;;
    *) probe ;;
  esac
  exit
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/mcpd-conformance-XXXXXX")"
NATS_PID="" MCPD_PID="" WATCHDOG_PID=""

# SIGTERM, up to 5 s to exit, then SIGKILL. Returns 0 if it exited by itself with status 0;
# else sets STOP_PROBLEM (a clean stop takes far less than 5 s).
STOP_PROBLEM=""
stop() {
  local pid="$1" status=0
  STOP_PROBLEM=""
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    STOP_PROBLEM="did not exit within 5 s of SIGTERM (killed): a shutdown hang"
    return 1
  fi
  wait "$pid" 2>/dev/null || status=$?
  if [ "$status" -ne 0 ]; then
    STOP_PROBLEM="exited with status $status on SIGTERM (a sanitizer report or a crash: see its log)"
    return 1
  fi
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  # mcpd must stop by itself on SIGTERM, cleanly, ending its sessions (DELETE) on the way: a
  # hang or a crash here is a bug the scenario would otherwise hide.
  if ! stop "$MCPD_PID"; then
    echo "run-client: mcpd $STOP_PROBLEM" >&2
    [ "$rc" -ne 0 ] || rc=1
  fi
  stop "$NATS_PID" || true
  [ -n "$WATCHDOG_PID" ] && kill "$WATCHDOG_PID" 2>/dev/null
  if [ "$rc" -ne 0 ] && [ -f "$WORK/mcpd.log" ]; then
    echo "--- mcpd.log (last 60 lines)" >&2
    tail -n 60 "$WORK/mcpd.log" >&2
  fi
  if [ -n "${MCPD_CONFORMANCE_KEEP:-}" ]; then
    mkdir -p "$MCPD_CONFORMANCE_KEEP" && cp -r "$WORK"/. "$MCPD_CONFORMANCE_KEEP"/
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

# wait_for SECONDS CMD...: runs CMD until it succeeds or SECONDS pass.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.05
  done
}

# If the harness kills this script with SIGKILL (no trap runs), the daemon and nats-server
# must not outlive it: a watchdog stops them once this shell is gone.
(
  while kill -0 $$ 2>/dev/null; do sleep 1; done
  while read -r pid; do kill -KILL "$pid" 2>/dev/null; done <"$WORK/pids"
  rm -rf "$WORK"
) </dev/null >/dev/null 2>&1 &
WATCHDOG_PID=$!

# --- nats-server on a free loopback port (another process may take it first: retry) --------
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
nats_ready_or_gone() {
  ! kill -0 "$NATS_PID" 2>/dev/null || grep -q "Server is ready" "$WORK/nats.log"
}
for _ in 1 2 3 4 5; do
  PORT="$(free_port)"
  "$NATS_SERVER" -a 127.0.0.1 -p "$PORT" >"$WORK/nats.log" 2>&1 &
  NATS_PID=$!
  echo "$NATS_PID" >>"$WORK/pids"
  wait_for 10 nats_ready_or_gone || fail "nats-server not ready within 10 s"
  kill -0 "$NATS_PID" 2>/dev/null && break
  wait "$NATS_PID" 2>/dev/null || true
  NATS_PID=""
  grep -q "address already in use" "$WORK/nats.log" || fail "nats-server did not start: $(tail -n 5 "$WORK/nats.log")"
done
[ -n "$NATS_PID" ] || fail "nats-server found no free port in 5 tries"
NATS_URL="nats://127.0.0.1:$PORT"

# --- mcpd with the scenario's server registered as "conf" -----------------------------------
cat >"$WORK/mcpd.toml" <<EOF
[node]
id = "conformance"

[nats]
url = "$NATS_URL"

[cluster]
jetstream = "off"

[store]
path = "$WORK/catalog.db"

[log]
level = "debug"

[defaults]
drain_timeout_ms = 2000

[[servers]]
name = "conf"
transport = "http"
url = "$URL"
minSessions = 1
maxSessions = 1
connectTimeoutSeconds = 10
callTimeoutMs = 20000
EOF
"$MCPD" --config "$WORK/mcpd.toml" >"$WORK/mcpd.log" 2>&1 </dev/null &
MCPD_PID=$!
echo "$MCPD_PID" >>"$WORK/pids"

ctl() { "$MCPCTL" --nats "$NATS_URL" "$@"; }
mcpd_serving() {
  kill -0 "$MCPD_PID" 2>/dev/null || fail "mcpd exited at start"
  ctl --timeout 500 server ls >"$WORK/ls.out" 2>&1 && grep -q '^conf ' "$WORK/ls.out"
}
wait_for 20 mcpd_serving || fail "mcpd did not serve within 20 s: $(cat "$WORK/ls.out")"

# --- the scenario ---------------------------------------------------------------------------
# Each step is echoed on stdout (the harness keeps it); the first failing step fails the run.
step() {
  echo "+ mcpctl $*"
  ctl "$@" || fail "mcpctl $* failed (exit $?)"
}
# The tools the server lists, one name a line.
tool_names() {
  ctl --json tools conf | python3 -c 'import json, sys; [print(t["name"]) for t in json.load(sys.stdin).get("tools", [])]'
}

case "$SCENARIO" in
  initialize)
    # The daemon initialized its session when it started it; listing the tools proves the
    # session is up and used.
    step tools conf
    ;;
  tools_call)
    step tools conf
    step call conf add_numbers --args '{"a": 5, "b": 3}'
    ;;
  sse-retry)
    # The mock server closes the call's SSE stream after a priming event carrying `retry:
    # 500`; the transport must wait that long, resume with GET + Last-Event-ID, and get the
    # answer there.
    step tools conf
    step call conf test_reconnection
    ;;
  elicitation-sep1034-client-defaults)
    step tools conf
    step call conf test_client_elicitation_defaults
    ;;
  *)
    # Any other scenario (the auth/* ones): connect, list the tools, call each with {}.
    step tools conf
    names="$(tool_names)" || fail "cannot list the tools of conf"
    for tool in $names; do
      step call conf "$tool"
    done
    ;;
esac
echo "run-client: scenario ${SCENARIO:-(none)} driven to the end"
