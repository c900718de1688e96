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
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
# shellcheck source-path=SCRIPTDIR source=../support/harness.sh
source "$HERE/../support/harness.sh"

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

for tool in go node npm python3; do
  command -v "$tool" >/dev/null 2>&1 ||
    fail "$tool is not installed: apt-get install golang-go golang-github-nats-io-go-nats-dev nodejs npm python3"
done
need_nats_server

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

cleanup() {
  local rc=$?
  stop "$MCPD_PID" 10 || true
  stop "$NATS_PID" 10 || true
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

# --- build the examples first: nothing is running yet, so a slow npm ci costs no deadline ----
"$ROOT/scripts/examples.sh" --build-only || fail "building the examples failed"
GO_CLIENT="$MCPD_EXAMPLES_OUT/mcpd-client"
NODE_CLIENT="$ROOT/examples/node/mcpd-client.mjs"

# --- nats-server on a free loopback port -----------------------------------------------------
start_nats
export MCPD_NATS_URL="$NATS_URL"

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
start_mcpd "$WORK/mcpd.toml" fake 30
echo "mcpd serves at $MCPD_NATS_URL"

# --- the examples ---------------------------------------------------------------------------
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
