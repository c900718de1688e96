#!/usr/bin/env bash
# `mcpctl probe` end to end, against probe-mock-server.js in each of its behaviours: what it
# prints for a good server (text and --json), a tool call, and that every way of failing
# (connection refused, HTTP 401, a stalled server, an old protocol version, an untrusted TLS
# certificate, an unknown or failing tool, bad flags) exits non-zero with a message that says
# what went wrong. Run by ctest as mcpctl_probe; mcpctl from $MCPD_BIN_DIR (default build/bin).
# Starts its servers on free loopback ports and stops them on exit.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
MCPCTL="${MCPD_BIN_DIR:-$ROOT/build/bin}/mcpctl"
# shellcheck source-path=SCRIPTDIR source=../support/harness.sh
source "$HERE/../support/harness.sh"

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
[ -x "$MCPCTL" ] || fail "no mcpctl at $MCPCTL: build it first (ninja -C build mcpctl)"
command -v node >/dev/null 2>&1 || fail "node is not installed (scripts/setup.sh installs it)"
command -v openssl >/dev/null 2>&1 || fail "openssl is not installed (apt-get install openssl)"
command -v python3 >/dev/null 2>&1 || fail "python3 is not installed (scripts/setup.sh installs it)"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/mcpd-probe-test-XXXXXX")"
PIDS=()
cleanup() {
  local rc=$?
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# serve MODE: starts the mock in MODE on a free port and sets PORT.
serve() {
  local mode="$1"
  PORT="$(free_port)"
  node "$HERE/probe-mock-server.js" "$PORT" "$mode" "$WORK/server.pem" "$WORK/server.key" >"$WORK/$mode.log" 2>&1 &
  PIDS+=($!)
  wait_for 15 grep -q "listening" "$WORK/$mode.log" ||
    fail "the $mode mock server did not start: $(cat "$WORK/$mode.log")"
}

# A throwaway CA and a server certificate for 127.0.0.1 signed by it.
(
  cd "$WORK"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.pem -days 2 \
    -subj '/CN=mcpd probe test CA' -addext 'basicConstraints=critical,CA:TRUE' -addext 'keyUsage=critical,keyCertSign,cRLSign'
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout server.key -out server.csr -subj '/CN=127.0.0.1'
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n' >ext.cnf
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile ext.cnf
) >"$WORK/openssl.log" 2>&1 || fail "cannot make test certificates: $(cat "$WORK/openssl.log")"

# mcpctl ARGS...: the mcpctl under test, killed if it hangs.
mcpctl() { timeout 60 "$MCPCTL" "$@"; }

# --- a good server ---------------------------------------------------------------------------
serve ok
OK_PORT="$PORT"
URL="http://127.0.0.1:$PORT/mcp"
expect "server info" 0 "server:        probe-mock 1.2.3" "" mcpctl probe --url "$URL"
for text in "protocol:      2025-06-18" "capabilities:  logging, tools (listChanged)" \
            "instructions:  A mock server for mcpctl probe." "2 tools:"; do
  grep -qF -- "$text" "$WORK/out" || fail "probe's output lacks '$text':"$'\n'"$(cat "$WORK/out")"
done
grep -qE '^t +y \[x\] +Answers ok\.$' "$WORK/out" || fail "the tool table is wrong:"$'\n'"$(cat "$WORK/out")"
expect "--json: one document" 0 '"ok": true' "" mcpctl probe --url "$URL" --json
python3 - "$WORK/out" <<'EOF' || fail "probe --json printed: $(cat "$WORK/out")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["transport"] == "http" and d["server"]["protocolVersion"] == "2025-06-18", d
assert d["server"]["serverInfo"] == {"name": "probe-mock", "version": "1.2.3"}, d
assert [t["name"] for t in d["tools"]] == ["t", "broken"], d
EOF
expect "--call with --args" 0 'ok {"x":"hi","y":1}' "" mcpctl probe --url "$URL" --call t --args '{"x": "hi", "y": 1}'
grep -qF "call t:" "$WORK/out" || fail "no 'call t:' heading: $(cat "$WORK/out")"
expect "--call --json" 0 '"tool": "t"' "" mcpctl probe --url "$URL" --call t --json
expect "an unknown tool" 1 "" "unknown_tool: the server lists no tool 'nope' (its tools: t, broken)" mcpctl \
  probe --url "$URL" --call nope
expect "a failing tool" 1 "it broke" "tool_error: broken reported failure (isError: true)" mcpctl probe --url "$URL" --call broken
expect "--json on failure" 1 '"ok": false' "tool_error" mcpctl probe --url "$URL" --call broken --json
expect "global --json before the command" 0 '"ok": true' "" mcpctl --json probe --url "$URL"

# --- failures to connect ---------------------------------------------------------------------
DEAD="$(free_port)"
expect "connection refused" 1 "" "cannot open an MCP session: initialize failed: cannot reach http://127.0.0.1:$DEAD/mcp" mcpctl \
  probe --url "http://127.0.0.1:$DEAD/mcp"
grep -qF "is the server running" "$WORK/err" || fail "no hint for a refused connection: $(cat "$WORK/err")"
expect "wrong path: HTTP 405 with a hint" 1 "" "HTTP 405" mcpctl probe --url "http://127.0.0.1:$PORT/mcp" --transport sse
grep -qF "try --transport http" "$WORK/err" || fail "no hint for the wrong transport: $(cat "$WORK/err")"

serve auth
URL="http://127.0.0.1:$PORT/mcp"
expect "401 without a token" 1 "" "HTTP 401 Unauthorized" mcpctl probe --url "$URL"
grep -qF -- "--token-env VAR" "$WORK/err" || fail "no hint for a 401: $(cat "$WORK/err")"
export PROBE_TEST_TOKEN=sekret
expect "--token-env" 0 "probe-mock 1.2.3" "" mcpctl probe --url "$URL" --token-env PROBE_TEST_TOKEN
printf 'sekret\n' >"$WORK/token"
expect "--token-file" 0 "probe-mock 1.2.3" "" mcpctl probe --url "$URL" --token-file "$WORK/token"
# shellcheck disable=SC2016  # ${VAR} is for mcpctl to expand, as mcpd does
expect "--header with \${VAR}" 0 "probe-mock 1.2.3" "" mcpctl probe --url "$URL" --header 'Authorization: Bearer ${PROBE_TEST_TOKEN}'
expect "--token-env unset" 1 "" "PROBE_TEST_UNSET is not set" mcpctl probe --url "$URL" --token-env PROBE_TEST_UNSET
expect "--token-file missing" 1 "" "cannot read $WORK/missing" mcpctl probe --url "$URL" --token-file "$WORK/missing"

serve stall
t0=$SECONDS
expect "a stalled server: timeout" 1 "" "timeout: cannot open an MCP session: initialize failed: initialize timed out after 1000 ms" mcpctl \
  probe --url "http://127.0.0.1:$PORT/mcp" --timeout 1000
[ $((SECONDS - t0)) -lt 10 ] || fail "probe --timeout 1000 took $((SECONDS - t0)) s"

serve oldver
expect "an unsupported protocol version" 1 "" "server speaks MCP protocol version 2024-10-07" mcpctl \
  probe --url "http://127.0.0.1:$PORT/mcp"

serve tls
URL="https://127.0.0.1:$PORT/mcp"
expect "TLS: an unknown CA is refused" 1 "" "SSL certificate problem" mcpctl probe --url "$URL"
grep -qF -- "--ca-file" "$WORK/err" || fail "no hint for TLS: $(cat "$WORK/err")"
expect "TLS: --ca-file" 0 "probe-mock 1.2.3" "" mcpctl probe --url "$URL" --ca-file "$WORK/ca.pem"
expect "TLS: --insecure" 0 "probe-mock 1.2.3" "" mcpctl probe --url "$URL" --insecure
expect "TLS: https to a plain HTTP port" 1 "" "nothing speaks TLS there: is it an http:// URL?" mcpctl \
  probe --url "https://127.0.0.1:$OK_PORT/mcp"

serve sse
URL="http://127.0.0.1:$PORT/sse"
expect "legacy SSE: info and a call" 0 "transport:     sse (legacy HTTP+SSE, 2024-11-05) $URL" "" mcpctl \
  probe --url "$URL" --transport sse --call t --args '{"y": 2}'
grep -qF 'ok {"y":2}' "$WORK/out" || fail "no call result over legacy SSE: $(cat "$WORK/out")"

# --- the command line ------------------------------------------------------------------------
expect "--url is required" 2 "" "probe needs --url URL" mcpctl probe
expect "--url must be http(s)" 2 "" "--url must start with http:// or https://" mcpctl probe --url ftp://example.com/
expect "--transport is checked" 2 "" "--transport: expected http" mcpctl probe --url "$URL" --transport grpc
expect "--args needs --call" 2 "" "--args goes with --call TOOL" mcpctl probe --url "$URL" --args '{}'
expect "--args must be an object" 2 "" "must be a JSON object" mcpctl probe --url "$URL" --call t --args '[1]'
expect "a header the transport sets" 2 "" "--header Accept: the transport sets this header itself" mcpctl \
  probe --url "$URL" --header 'Accept: text/html'
expect "Authorization with a token" 2 "" "cannot be combined with --token-env" mcpctl \
  probe --url "$URL" --header 'Authorization=Basic eA==' --token-env PROBE_TEST_TOKEN
expect "help" 0 "mcpctl probe --url URL" "" mcpctl probe --help

echo "$passed passed, 0 failed"
