#!/usr/bin/env bash
# End to end: the Go and Node.js client examples against a real nats-server and the real mcpd
# binary, with the native fake MCP server registered as "fake". Run by ctest:
#
#   examples_test.sh MCPD MCPCTL FAKE_MCP_SERVER
#
# Starts its own nats-server on a free loopback port and mcpd with a temporary config, waits
# (polling with a deadline) until `mcpctl server ls` answers, builds the examples with
# scripts/examples.sh, runs them (happy path, a structured result, an unknown tool) and stops
# everything it started on exit. A missing go or node is a failure, not a skip: the README's
# test command installs them.
set -euo pipefail

if [ "$#" -ne 3 ]; then
  echo "usage: $0 MCPD MCPCTL FAKE_MCP_SERVER" >&2
  exit 2
fi
MCPD="$1" MCPCTL="$2" FAKE="$3"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

for tool in go node npm python3; do
  command -v "$tool" >/dev/null 2>&1 ||
    fail "$tool is not installed: apt-get install golang-go golang-github-nats-io-go-nats-dev nodejs npm python3"
done
NATS_SERVER="$(command -v nats-server || true)"
[ -n "$NATS_SERVER" ] || NATS_SERVER=/usr/sbin/nats-server
[ -x "$NATS_SERVER" ] || fail "nats-server is not installed: apt-get install nats-server"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/mcpd-examples-XXXXXX")"
NATS_PID="" MCPD_PID=""
# The Go example is built in the build tree of mcpd (<build>/bin/mcpd -> <build>/examples/),
# else in $WORK.
BUILD_DIR="$(cd "$(dirname "$MCPD")/.." && pwd)"
if [ -f "$BUILD_DIR/CMakeCache.txt" ]; then
  export MCPD_EXAMPLES_OUT="$BUILD_DIR/examples"
else
  export MCPD_EXAMPLES_OUT="$WORK/examples"
fi

# Stops a process we started: SIGTERM, up to 10 s to exit, then SIGKILL.
stop() {
  local pid="$1"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local rc=$?
  stop "$MCPD_PID"
  stop "$NATS_PID"
  if [ "$rc" -ne 0 ]; then
    for log in "$WORK/mcpd.log" "$WORK/nats.log"; do
      [ -f "$log" ] && { echo "--- $(basename "$log") (last 40 lines)" >&2; tail -n 40 "$log" >&2; }
    done
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_for SECONDS CMD...: runs CMD until it succeeds or SECONDS pass.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.05
  done
}

# --- build the examples first: nothing is running yet, so a slow npm ci costs no deadline ----
"$ROOT/scripts/examples.sh" --build-only || fail "building the examples failed"
GO_CLIENT="$MCPD_EXAMPLES_OUT/mcpd-client"
NODE_CLIENT="$ROOT/examples/node/mcpd-client.mjs"

# --- nats-server on a free loopback port (another process may grab it first: retry) ---------
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
nats_ready_or_gone() {
  ! kill -0 "$NATS_PID" 2>/dev/null || grep -q "Server is ready" "$WORK/nats.log"
}
for attempt in 1 2 3 4 5; do
  PORT="$(free_port)"
  "$NATS_SERVER" -a 127.0.0.1 -p "$PORT" >"$WORK/nats.log" 2>&1 &
  NATS_PID=$!
  wait_for 10 nats_ready_or_gone || fail "nats-server not ready within 10 s"
  kill -0 "$NATS_PID" 2>/dev/null && break
  wait "$NATS_PID" 2>/dev/null || true
  NATS_PID=""
  grep -q "address already in use" "$WORK/nats.log" || fail "nats-server did not start"
done
[ -n "$NATS_PID" ] || fail "nats-server found no free port in 5 tries"
export MCPD_NATS_URL="nats://127.0.0.1:$PORT"

# --- mcpd with the fake MCP server registered as "fake" ------------------------------------
cat >"$WORK/mcpd.toml" <<EOF
[node]
id = "examples-test"

[nats]
url = "$MCPD_NATS_URL"

[store]
path = "$WORK/catalog.db"

[[servers]]
name = "fake"
command = "$FAKE"
minSessions = 1
maxSessions = 2
EOF
"$MCPD" --config "$WORK/mcpd.toml" >"$WORK/mcpd.log" 2>&1 </dev/null &
MCPD_PID=$!
mcpd_serving() {
  kill -0 "$MCPD_PID" 2>/dev/null || fail "mcpd exited at start"
  "$MCPCTL" --nats "$MCPD_NATS_URL" --timeout 500 server ls >"$WORK/ls.out" 2>&1 && grep -q '^fake ' "$WORK/ls.out"
}
wait_for 30 mcpd_serving || fail "mcpd did not serve within 30 s: $(cat "$WORK/ls.out")"
echo "mcpd serves at $MCPD_NATS_URL"

# --- the examples ---------------------------------------------------------------------------
passed=0
# expect NAME WANT_RC STDOUT_TEXT STDERR_TEXT CMD...: CMD exits WANT_RC, its stdout contains
# STDOUT_TEXT and its stderr contains STDERR_TEXT (either may be empty: not checked).
expect() {
  local name="$1" want_rc="$2" want_out="$3" want_err="$4" rc=0
  shift 4
  "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
  if [ "$rc" -ne "$want_rc" ] ||
     { [ -n "$want_out" ] && ! grep -qF -- "$want_out" "$WORK/out"; } ||
     { [ -n "$want_err" ] && ! grep -qF -- "$want_err" "$WORK/err"; }; then
    echo "FAIL $name: exit $rc (want $want_rc), stdout should contain '$want_out', stderr '$want_err'" >&2
    echo "--- stdout:" >&2; cat "$WORK/out" >&2
    echo "--- stderr:" >&2; cat "$WORK/err" >&2
    exit 1
  fi
  echo "ok   $name"
  passed=$((passed + 1))
}

# The script a person runs, against "fake".
expect "scripts/examples.sh fake" 0 "both examples passed" "" "$ROOT/scripts/examples.sh" fake

MSG="echoed by mcpd $$"
expect "go: echo" 0 "$MSG" "" "$GO_CLIENT" -server fake -tool echo -args "{\"message\":\"$MSG\"}"
expect "node: echo" 0 "$MSG" "" node "$NODE_CLIENT" --server fake --tool echo --args "{\"message\":\"$MSG\"}"
expect "go: lists the tools" 0 "tools of fake (" "" "$GO_CLIENT" -server fake
grep -q '^  add ' "$WORK/out" || fail "go: the tool list has no add: $(cat "$WORK/out")"
expect "node: structured result" 0 '"sum": 5' "" node "$NODE_CLIENT" --server fake --tool add --args '{"a":2,"b":3}'

# Errors: mcpd's code and message on stderr, exit 1.
expect "go: unknown tool" 1 "" "unknown_tool: server 'fake' has no tool 'no_such_tool'" \
  "$GO_CLIENT" -server fake -tool no_such_tool
expect "node: unknown tool" 1 "" "unknown_tool: server 'fake' has no tool 'no_such_tool'" \
  node "$NODE_CLIENT" --server fake --tool no_such_tool
expect "go: tool error" 1 "" "tool_error: tool failed on purpose" "$GO_CLIENT" -server fake -tool fail
expect "node: unknown server" 1 "" "invalid_request: no MCP server named 'nosuch'" \
  node "$NODE_CLIENT" --server nosuch
expect "go: bad -args" 2 "" "-args must be a JSON object" "$GO_CLIENT" -server fake -args '[1]'
expect "node: bad --args" 2 "" "--args must be a JSON object" node "$NODE_CLIENT" --server fake --args '{bad'

echo "$passed passed, 0 failed"
