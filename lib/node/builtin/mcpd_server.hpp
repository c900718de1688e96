// The built-in MCP server "mcpd" (transport "builtin", builtin "mcpd"): tools that report the
// cluster mcpd runs on, as an agent would want it, so that an MCP client reaching mcpd through
// NATS can inspect the cluster it runs on. Read-only: it registers and removes nothing.
//
//   list_servers     the catalog, a page at a time, each with its health on this node
//   get_server       one server's record and its health on this node
//   list_nodes       every live node with its load, sessions and tasks ($SRV.STATS)
//   node_status      this node: sessions against its limits, tasks, in-flight requests
//   wait_for_server  waits until a server is registered and serving on this node
//
// Runs on the Worker transport (its own thread, bounded channels, cancellation: each call
// watches its stop token). Every result is JSON in structuredContent, and the same JSON as text.
#pragma once

#include "catalog/server_config.hpp"
#include "common/error.hpp"
#include "mcp/in_process_server.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <vector>

namespace mcpd::node {

// What the server reads of the node it runs in. Each function is called on a call's own
// thread and may block briefly (SQLite, a NATS round trip).
struct ClusterView {
  std::function<Result<std::vector<catalog::ServerConfig>>()> catalog;  // in name order
  std::function<Result<std::optional<catalog::ServerConfig>>(const std::string& name)> server;
  // Per server this node runs: sessions, in-flight, circuit, last error (PoolRegistry::status).
  std::function<nlohmann::json()> health;
  // Why this node does not run `name` although the catalog has it (the [security] policy).
  std::function<std::optional<Error>(const std::string& name)> refusal;
  // This node's $SRV.STATS data without its per-server list.
  std::function<nlohmann::json()> node;
  // Every live node's $SRV.STATS reply gathered for `window` (this node's own included).
  std::function<std::vector<nlohmann::json>(std::chrono::milliseconds window)> nodes;
};

mcp::InProcessServer make_mcpd_server(ClusterView view);

}  // namespace mcpd::node
