// Turns a catalog ServerConfig into what a SessionPool needs: pool options and a factory of
// MCP sessions over the right transport (a stdio child today; HTTP transports plug in here).
// `${VAR}` references in env values are expanded from the daemon's environment at spawn time;
// a config that cannot be started yields sessions that fail at once with the reason.
#pragma once

#include "catalog/server_config.hpp"
#include "io/loop.hpp"
#include "pool/session_pool.hpp"

#include <chrono>

namespace mcpd::node {

struct PoolDefaults {
  std::chrono::milliseconds drain_timeout{10'000};
  pool::BackoffPolicy backoff;
  std::chrono::milliseconds stop_grace{2'000};  // stdio: after closing stdin, and after SIGTERM
};

pool::PoolOptions pool_options(const catalog::ServerConfig& config, const PoolDefaults& defaults);
pool::SessionFactory session_factory(io::Loop& loop, const catalog::ServerConfig& config, const PoolDefaults& defaults);

}  // namespace mcpd::node
