// Manager: one mcpd node. Wires the catalog (SQLite), one SessionPool per enabled server, and
// the bus: serves <prefix>.<name>.execute and .list-tools and the admin API in the queue group,
// and applies <prefix>.servers.created / .deleted events from every node by revision, so a late
// event never undoes a newer change.
//
// Small tool calls are parsed on the NATS delivery thread and handed to their pool at once;
// admin requests and large bodies go to the event loop. A reply is published from the call's
// completion. Nothing here waits for an MCP round trip on a delivery thread.
#pragma once

#include "bus/connection.hpp"
#include "catalog/store.hpp"
#include "common/error.hpp"
#include "io/loop.hpp"
#include "node/cluster.hpp"
#include "node/server_factory.hpp"
#include "node/subjects.hpp"
#include "pool/session_pool.hpp"

#include <nlohmann/json_fwd.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace mcpd::node {

struct ManagerOptions {
  std::string node_id;
  Subjects subjects;
  std::string queue_group = "mcpd";
  std::string version = "0.1.0";
  std::size_t max_request_bytes = 1u << 20;  // larger bodies are refused with too_large
  PoolDefaults pool_defaults;
  ClusterOptions cluster;
};

struct ManagerStats {
  std::size_t servers = 0;
  int in_flight = 0;               // requests received and not yet answered
  std::uint64_t requests = 0;
  std::uint64_t errors = 0;
};

class Manager {
 public:
  Manager(ManagerOptions options, io::Loop& loop, catalog::Store& store, std::shared_ptr<bus::Connection> bus);
  ~Manager();
  Manager(const Manager&) = delete;
  Manager& operator=(const Manager&) = delete;

  // Starts a pool for every enabled server in the catalog (in parallel: pools start their
  // sessions asynchronously) and subscribes to requests and events.
  std::optional<Error> start();

  // Runs `config` (replacing a running pool whose definition differs; a no-op when it is the
  // same). A disabled config stops the pool and keeps the record.
  void start_worker(const catalog::ServerConfig& config);
  // Tells the cluster about a server changed outside the admin API (the config file): written
  // to the catalog of record when JetStream is in use, else published as a created event.
  void announce(const catalog::ServerConfig& config);
  // Stops one server's pool and its processes; `done` runs once they are gone.
  void stop_worker(const std::string& name, std::function<void()> done = {});
  // Stops every pool and every child process; `done` runs once all are gone.
  void stop_all(std::function<void()> done = {});

  // Graceful stop, blocking (call from main): stop taking requests (the queue subscription
  // drains so other nodes take new ones), let in-flight calls finish up to `drain_timeout`,
  // then stop every pool and child.
  void shutdown(std::chrono::milliseconds drain_timeout);

  ManagerStats stats() const;
  // Per server: sessions, in-flight, queued, circuit, last error (also in $SRV.STATS data).
  nlohmann::json status() const;
  std::vector<std::string> running_servers() const;
  std::shared_ptr<pool::SessionPool> find_pool(const std::string& name) const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace mcpd::node
