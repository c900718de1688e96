// PoolRegistry: the node's running MCP servers, one SessionPool each, following what the
// catalog (SQLite) holds. start() and stop() are told a name changed and read the catalog to
// see what to run: the admin API, events and the catalog watch call them from different
// threads in any order, and reading the catalog under the registry's lock means an older
// definition arriving late never replaces a newer one, nor is a deleted server started again.
//
// A record Admission refuses (the [security] policy) is not run: its pool, if any, stops, and
// refusal() says why, for the calls that name it.
//
// Thread-safe. start() and stop() read SQLite: call them off the event loop (blocking pool,
// catalog watch thread, main). Lock order: the registry's mutex is taken before the Store's.
#pragma once

#include "catalog/store.hpp"
#include "common/thread_annotations.hpp"
#include "io/loop.hpp"
#include "node/admission.hpp"
#include "node/server_factory.hpp"
#include "pool/session_pool.hpp"

#include <nlohmann/json_fwd.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mcpd::node {

class PoolRegistry {
 public:
  // Runs on the pool's strand when an isolated session closes (to release its ownership).
  using IsolatedClosed = std::function<void(const std::string& server, const std::string& session_id)>;

  PoolRegistry(io::Loop& loop, catalog::Store& store, const Admission& admission, PoolDefaults defaults,
               IsolatedClosed on_isolated_closed);

  // Runs what the catalog holds for `name` now: starts it, replaces a pool whose definition
  // differs (a no-op when it is the same), stops it if disabled or gone. An error means the
  // catalog could not be read; what runs is left as it was.
  Status sync(const std::string& name) MCPD_EXCLUDES(mu_);
  // Stops `name`'s pool if the catalog no longer holds it; `done` runs once its processes are
  // gone (at once if nothing was running).
  void stop_if_deleted(const std::string& name, std::function<void()> done = {}) MCPD_EXCLUDES(mu_);
  // Stops every pool (in-flight calls get up to `drain`); `done` runs once all are gone.
  void stop_all(std::function<void()> done, std::optional<std::chrono::milliseconds> drain = std::nullopt)
      MCPD_EXCLUDES(mu_);

  std::shared_ptr<pool::SessionPool> find(const std::string& name) const MCPD_EXCLUDES(mu_);
  // Why the catalog's record of `name` is not run here (forbidden), if it is refused.
  std::optional<Error> refusal(const std::string& name) const MCPD_EXCLUDES(mu_);
  std::vector<std::string> names() const MCPD_EXCLUDES(mu_);
  // The running pools by name (a snapshot: for /metrics).
  std::vector<std::pair<std::string, std::shared_ptr<pool::SessionPool>>> pools() const MCPD_EXCLUDES(mu_);
  std::size_t size() const MCPD_EXCLUDES(mu_);
  // Per server: revision, sessions, load, circuit, last error (the data of $SRV.STATS).
  nlohmann::json status() const MCPD_EXCLUDES(mu_);
  // The node-wide limits every pool shares: live sessions and process starts.
  const pool::NodeLimits& limits() const { return *limits_; }

 private:
  struct Running {
    catalog::ServerConfig config;
    std::shared_ptr<pool::SessionPool> pool;
  };

  io::Loop& loop_;
  catalog::Store& store_;
  const Admission& admission_;
  const PoolDefaults defaults_;
  const IsolatedClosed on_isolated_closed_;
  const std::shared_ptr<pool::NodeLimits> limits_;
  mutable Mutex mu_;
  std::map<std::string, Running> running_ MCPD_GUARDED_BY(mu_);
  std::map<std::string, Error> refused_ MCPD_GUARDED_BY(mu_);
};

}  // namespace mcpd::node
