#!/usr/bin/env bash
# Runs one client scenario of the pinned MCP conformance suite against mcpd's client:
#
#   tests/conformance/run-scenario.sh SCENARIO      (e.g. initialize, tools_call, sse-retry)
#
# The suite starts the scenario's mock server and runs `bash run-client.sh <url>` (see there);
# this exits 0 only if every check of the scenario passed (no failure, no warning) and the
# client exited 0. Binaries: $MCPD_BIN_DIR (default build/bin). $MCPD_CONFORMANCE_TIMEOUT:
# how long the client may take, in ms (default 30000). ctest runs it as conformance_<scenario>.
set -euo pipefail

if [ "$#" -ne 1 ] || [ -z "$1" ]; then
  echo "usage: $0 SCENARIO   (the client scenarios: tests/conformance/run-suite.sh --list)" >&2
  exit 2
fi
SCENARIO="$1"
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

cd "$CONF_WORK"
conformance client --command "bash $CONF_DIR/run-client.sh" --scenario "$SCENARIO" \
  --timeout "${MCPD_CONFORMANCE_TIMEOUT:-30000}"
