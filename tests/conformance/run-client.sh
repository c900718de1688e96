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
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
BIN="${MCPD_BIN_DIR:-$ROOT/build/bin}"
MCPD="$BIN/mcpd" MCPCTL="$BIN/mcpctl"
# shellcheck source-path=SCRIPTDIR source=../support/harness.sh
source "$HERE/../support/harness.sh"

fail() {
  echo "run-client: $*" >&2
  exit 1
}
{ [ -x "$MCPD" ] && [ -x "$MCPCTL" ]; } ||
  fail "no mcpd/mcpctl in $BIN: build them first (cmake -S . -B build -G Ninja && ninja -C build mcpd mcpctl)"
need_nats_server

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

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  # mcpd must stop by itself on SIGTERM, cleanly, ending its sessions (DELETE) on the way: a
  # hang or a crash here is a bug the scenario would otherwise hide (a clean stop takes far
  # less than stop's 5 s).
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

# If the harness kills this script with SIGKILL (no trap runs), the daemon and nats-server
# must not outlive it: a watchdog stops them once this shell is gone.
(
  while kill -0 $$ 2>/dev/null; do sleep 1; done
  while read -r pid; do kill -KILL "$pid" 2>/dev/null; done <"$WORK/pids"
  rm -rf "$WORK"
) </dev/null >/dev/null 2>&1 &
WATCHDOG_PID=$!

# --- nats-server on a free loopback port -----------------------------------------------------
start_nats

# --- mcpd with the scenario's server registered as "conf" -----------------------------------
cat >"$WORK/mcpd.toml" <<EOF
[node]
id = "conformance"

[nats]
url = "$NATS_URL"

[cluster]
jetstream = "off"

[store]
path = "$WORK/state/catalog.db"

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
# Scenarios with a pre-registered OAuth client hand its credentials in MCP_CONFORMANCE_CONTEXT
# (client_id with client_secret, or with private_key_pem for private_key_jwt): the record names
# the client and references its secret by an environment variable, as an operator would.
# Every other record gets OAuth with dynamic registration, so a 401 starts discovery. The node
# keeps tokens beside its catalog, in $WORK/state/oauth (mode 0600).
CLIENT_ID="" MCPD_SECRET_CONFORMANCE_CLIENT=""
if [ -n "${MCP_CONFORMANCE_CONTEXT:-}" ]; then
  context() { python3 -c 'import json, os, sys; c = json.loads(os.environ["MCP_CONFORMANCE_CONTEXT"]); print(next((c[k] for k in sys.argv[1:] if c.get(k)), ""))' "$@"; }
  CLIENT_ID="$(context client_id)"
  MCPD_SECRET_CONFORMANCE_CLIENT="$(context client_secret private_key_pem)"
fi
export MCPD_SECRET_CONFORMANCE_CLIENT
if [ -n "$CLIENT_ID" ]; then
  echo "auth = { type = \"oauth\", clientId = \"$CLIENT_ID\", clientSecretEnv = \"MCPD_SECRET_CONFORMANCE_CLIENT\" }" >>"$WORK/mcpd.toml"
else
  echo 'auth = { type = "oauth" }' >>"$WORK/mcpd.toml"
fi
# An authorization server that wants a person's consent (the authorization-code flow): this
# script plays the operator, who runs `mcpctl auth login` on the node before the server is
# used, with curl standing in for the browser (the mock authorization server approves at once
# and redirects to mcpctl's loopback listener). The node is not up yet, so --state-dir writes
# its grant file beside its catalog (mode 0600), where mcpd takes it up (handing it over NATS,
# sealed to the node's key, is tested by integration_oauth_handover). Where the server offers no authorization-code grant
# (client_credentials only) or no OAuth at all, the login says so and the daemon carries on alone.
case "$SCENARIO" in
  auth/*)
    # The client metadata document URL is the suite's own (its client publishes its metadata
    # there); mcpctl uses it as the client id only where the server supports CIMD.
    login=(auth login conf --url "$URL" --redirect-wait 15 --state-dir "$WORK/state" --browser-command "curl -fsS -o /dev/null -L"
      --client-metadata-url https://conformance-test.local/client-metadata.json)
    [ -n "$CLIENT_ID" ] && login+=(--client-id "$CLIENT_ID" --client-secret-env MCPD_SECRET_CONFORMANCE_CLIENT)
    echo "+ mcpctl ${login[*]}"
    "$MCPCTL" "${login[@]}" || echo "run-client: mcpctl auth login did not authorize (see above); the daemon goes on alone"
    ;;
esac
start_mcpd "$WORK/mcpd.toml" conf 20

ctl() { "$MCPCTL" --nats "$NATS_URL" "$@"; }

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
