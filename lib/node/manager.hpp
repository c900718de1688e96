// Manager: one mcpd node, wired. It owns the Node (internal/node.hpp) and connects its parts:
// the catalog (SQLite), one SessionPool per enabled server (PoolRegistry), the cluster
// (heartbeats, JetStream catalog of record, session affinity), catalog events (CatalogSync),
// the request subjects (EndpointTable + handlers/), and $SRV discovery.
//
// Threads and locks of a node, in one place:
//   - NATS delivery threads (nats.c's global delivery pool): EndpointTable::dispatch(); small
//     execute/list-tools bodies are parsed and handed to their pool right there; catalog
//     events are decided there. Never blocks.
//   - The event loop (io::Loop, one thread by default): every pipe, child exit and timer;
//     pools and sessions on their strands; large bodies and forwarded calls. Never blocks.
//   - The blocking pool (io::BlockingPool "mcpd-blocking", 2 threads): the admin API, affinity
//     lookups and catalog fetches — SQLite and JetStream round trips. Catalog events are applied
//     on CatalogSync's own thread ("mcpd-events"), one at a time in arrival order.
//   - The catalog watch thread (bus::KeyValue::Watch) applies the catalog of record; the
//     membership ticker sends heartbeats; the cluster's starter retries JetStream in auto mode.
//   - main(): start(), announce(), shutdown().
// Lock order (outer first): ReplicatedCatalog::mu_ → PoolRegistry::mu_ → catalog::Store's
// mutex. Pool strands are never entered with one of these held; completions answer through
// EndpointTable::answer(), which takes only its counters' own locks.
#pragma once

#include "bus/connection.hpp"
#include "catalog/store.hpp"
#include "common/error.hpp"
#include "io/loop.hpp"
#include "node/cluster.hpp"
#include "common/json_limits.hpp"
#include "node/server_factory.hpp"
#include "node/subjects.hpp"
#include "node/task_service.hpp"
#include "pool/session_pool.hpp"
#include "security/policy.hpp"

#include <nlohmann/json_fwd.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace mcpd::node {

struct ManagerOptions {
  std::string node_id;
  Subjects subjects;
  std::string queue_group = "mcpd";
  std::string version;                       // shown in $SRV.INFO; the build's version by default
  std::size_t max_request_bytes = 1u << 20;  // larger bodies are refused with too_large
  // JSON nested deeper is refused: request bodies (invalid_request) and MCP servers' messages.
  std::size_t json_max_depth = json::kDefaultMaxDepth;
  unsigned blocking_threads = 2;             // the blocking pool (SQLite, JetStream)
  PoolDefaults pool_defaults;
  ClusterOptions cluster;
  TaskOptions tasks;
  // What the bus may ask this node to run ([security]); the config file's own [[servers]] are
  // always run as written (node/admission.hpp).
  security::Policy security;
  std::vector<catalog::ServerConfig> own_servers;
};

struct ManagerStats {
  std::size_t servers = 0;
  int in_flight = 0;               // requests received and not yet answered
  std::uint64_t requests = 0;
  std::uint64_t errors = 0;
};

// /readyz: ready while the node serves requests; otherwise why not.
struct Readiness {
  bool ready = false;
  std::string reason;  // why not (empty when ready)
};

// What a reload of the config file's [[servers]] did, by server name.
struct ReloadSummary {
  std::vector<std::string> added, changed, removed, unchanged;
  std::vector<std::string> failed;  // "name: why"
};

struct Node;

class Manager {
 public:
  Manager(ManagerOptions options, io::Loop& loop, catalog::Store& store, std::shared_ptr<bus::Connection> bus);
  ~Manager();
  Manager(const Manager&) = delete;
  Manager& operator=(const Manager&) = delete;

  // Starts a pool for every enabled server in the catalog (in parallel: pools start their
  // sessions asynchronously), joins the cluster and subscribes to requests and events.
  Status start();

  // Tells the cluster about a server changed outside the admin API (the config file): written
  // to the catalog of record when JetStream is in use (unless it holds it as written already),
  // else published as a created event. Blocking (main).
  void announce(const catalog::ServerConfig& config);

  // The config file was read again (SIGHUP): its [[servers]] are now `servers`. Those added or
  // changed are stored, run and announced to the cluster; those no longer in the file are
  // deleted (and the deletion announced). Blocking (main).
  ReloadSummary reload_servers(const std::vector<catalog::ServerConfig>& servers);

  // Graceful stop, blocking (call from main): stop taking requests (the queue subscription
  // drains so other nodes take new ones), let in-flight calls finish up to `drain_timeout`,
  // then stop every pool and child.
  void shutdown(std::chrono::milliseconds drain_timeout);

  ManagerStats stats() const;
  // /metrics: the Prometheus text format (calls, latency, pools, sessions, tasks, NATS, process).
  std::string metrics() const;
  Readiness readiness() const;
  // What this node runs: per server, its sessions and load (also the data of $SRV.STATS).
  nlohmann::json status() const;
  std::vector<std::string> running_servers() const;
  std::shared_ptr<pool::SessionPool> find_pool(const std::string& name) const;

 private:
  std::shared_ptr<Node> node_;
};

}  // namespace mcpd::node
