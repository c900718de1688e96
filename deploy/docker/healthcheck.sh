#!/bin/sh
# The container's HEALTHCHECK (installed as /usr/local/bin/mcpd-healthcheck): healthy when this
# node answers the NATS service-discovery request $SRV.STATS.mcpd (`mcpctl nodes`), which says
# it is connected to NATS and serving. This node is MCPD_NODE_ID, else the host name (mcpd's
# default id); NATS is MCPD_NATS_URL, else nats://nats:4222. Checked by
# tests/integration/deploy_test.sh against a local cluster.
set -eu
url="${MCPD_NATS_URL:-nats://nats:4222}"
id="${MCPD_NODE_ID:-$(hostname)}"
if ! out="$(mcpctl --nats "$url" --timeout 5000 --json nodes --wait 2000 2>&1)"; then
  echo "unhealthy: no mcpd node answers on $url: $out"
  exit 1
fi
if printf '%s' "$out" | tr -d ' \n' | grep -qF "\"id\":\"$id\""; then
  exit 0
fi
echo "unhealthy: node $id is not among the nodes answering on $url"
exit 1
