// Turns a catalog ServerConfig into what a SessionPool needs: pool options and a factory of
// MCP sessions over the right transport: a stdio child, Streamable HTTP or legacy SSE, or a
// built-in server on the Worker transport.
// Secret references in env and headers (and the bearer token) are resolved by `secrets` at
// spawn/connect time; a config that cannot be started yields sessions that fail at once with
// the reason.
#pragma once

#include "catalog/server_config.hpp"
#include "node/builtin/builtin_servers.hpp"
#include "common/json_limits.hpp"
#include "io/loop.hpp"
#include "pool/session_pool.hpp"
#include "security/secrets.hpp"

#include <chrono>

namespace mcpd::node {

struct PoolDefaults {
  std::chrono::milliseconds drain_timeout{10'000};
  pool::BackoffPolicy backoff;
  std::chrono::milliseconds stop_grace{2'000};  // stdio: after closing stdin, and after SIGTERM
  std::chrono::milliseconds tool_refresh_interval{5'000};  // a miss re-lists a server's tools at most this often
  std::uint32_t stderr_log_lines_per_minute = 120;  // per server; more are counted, not logged
  std::size_t json_max_depth = json::kDefaultMaxDepth;  // set from ManagerOptions::json_max_depth
  pool::NodeLimitsOptions node_limits;  // [node] max_sessions, max_concurrent_starts
  // The in-process servers of transport "builtin" (null: none on this node).
  std::shared_ptr<BuiltinServers> builtins = nullptr;
  // Where OAuth grants are kept, one mode-0600 file per server (the daemon: beside the
  // catalog, `<catalog dir>/oauth`); empty: in memory only.
  std::string oauth_dir;
};

// Everything but the node-wide limits and hooks, which the registry adds.
pool::PoolOptions pool_options(const catalog::ServerConfig& config, const PoolDefaults& defaults);
pool::SessionFactory session_factory(io::Loop& loop, const catalog::ServerConfig& config, const PoolDefaults& defaults,
                                     security::SecretResolver secrets);

}  // namespace mcpd::node
