#!/usr/bin/env bash
# The quick start, from a fresh machine: installs what mcpd needs, builds it, and runs one node
# with the embedded default — a local nats-server on 127.0.0.1:4222 started by mcpd, requiring
# the login mcpd generates in .mcpd/credentials/local-nats, the catalog in .mcpd/catalog.db —
# and four example MCP servers registered: everything, filesystem (on the scratch directory
# .mcpd/scratch), memory, and mcpd's own built-in server "cluster". Ctrl-C stops it cleanly.
# Then, from another terminal:  build/bin/mcpctl call everything echo --args '{"message":"hi"}'
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
scripts/setup.sh

echo "==> building mcpd and mcpctl (build/)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C build mcpd mcpctl

STATE="$ROOT/.mcpd"
SERVERS="$ROOT/deploy/example-servers/node_modules/.bin"
mkdir -p "$STATE/scratch"
[ -f "$STATE/scratch/hello.txt" ] || echo "Hello from the mcpd quick start." > "$STATE/scratch/hello.txt"
cat > "$STATE/mcpd.toml" <<TOML
# Written by scripts/run.sh; see config.example.toml for every key.
[node]
id = "quickstart"

[store]
path = "$STATE/catalog.db"

[log]
level = "${MCPD_LOG_LEVEL:-info}"

# Prometheus metrics and health: curl http://127.0.0.1:9464/metrics (/healthz, /readyz)
[metrics]
listen = "${MCPD_METRICS_LISTEN:-127.0.0.1:9464}"

[[servers]]
name = "everything"
command = "$SERVERS/mcp-server-everything"

[[servers]]
name = "filesystem"
command = "$SERVERS/mcp-server-filesystem"
args = ["$STATE/scratch"]

[[servers]]
name = "memory"
command = "$SERVERS/mcp-server-memory"
env = { MEMORY_FILE_PATH = "$STATE/memory.jsonl" }

# mcpd's own built-in server: tools that report this cluster (servers, nodes, sessions, tasks)
[[servers]]
name = "cluster"
transport = "builtin"
builtin = "mcpd"
TOML

cat <<MSG
==> starting mcpd (config $STATE/mcpd.toml)
    In another terminal, from $ROOT (mcpctl finds the node's login in .mcpd/credentials/local-nats;
    from elsewhere: export MCPD_STATE_DIR=$STATE):
      build/bin/mcpctl server ls
      build/bin/mcpctl tools everything
      build/bin/mcpctl call everything echo --args '{"message":"hi"}'
      build/bin/mcpctl call filesystem read_text_file --args '{"path":"$STATE/scratch/hello.txt"}'
      build/bin/mcpctl resources everything
      build/bin/mcpctl call cluster list_servers
      curl -s http://127.0.0.1:9464/metrics | grep mcpd_calls_total
    kill -HUP <mcpd pid> re-reads $STATE/mcpd.toml ([[servers]] and the log level).
    Ctrl-C stops the node and every server it started.
MSG
exec build/bin/mcpd --config "$STATE/mcpd.toml"
