// Node: everything one mcpd node is made of, shared by the Manager (which wires it) and the
// endpoint handlers (which serve it). Internal to lib/node.
//
// Members are declared in construction order; destruction runs the other way, so nothing is
// torn down while something declared after it may still call it.
#pragma once

#include "bus/connection.hpp"
#include "catalog/store.hpp"
#include "io/blocking_pool.hpp"
#include "io/loop.hpp"
#include "node/admission.hpp"
#include "node/catalog_sync.hpp"
#include "node/cluster.hpp"
#include "node/discovery.hpp"
#include "node/endpoint_table.hpp"
#include "node/manager.hpp"
#include "node/pool_registry.hpp"
#include "node/task_service.hpp"
#include "metrics/call_metrics.hpp"

#include <atomic>
#include <memory>

namespace mcpd::node {

struct Node : std::enable_shared_from_this<Node> {
  Node(ManagerOptions options, io::Loop& loop, catalog::Store& store, std::shared_ptr<bus::Connection> bus);

  const ManagerOptions opts;
  io::Loop& loop;
  catalog::Store& store;
  const std::shared_ptr<bus::Connection> bus;
  metrics::CallMetrics calls;  // tool calls by server, tool and code; their latency (/metrics)
  // SQLite and JetStream round trips: the admin API, catalog events, affinity lookups.
  io::BlockingPool blocking;
  Admission admission;  // the [security] policy and the config file's own servers (reloaded on SIGHUP)
  PoolRegistry registry;
  std::unique_ptr<Cluster> cluster;  // set by Manager::start()
  CatalogSync catalog;
  EndpointTable table;
  std::unique_ptr<TaskService> tasks;  // its store is chosen by Manager::start() once the cluster is joined
  std::unique_ptr<bus::Subscription> queue_sub, node_sub;
  std::unique_ptr<Discovery> discovery;

  // Where the node is in its life: /readyz says ready only while serving.
  enum class Phase { starting, serving, draining };
  std::atomic<Phase> phase{Phase::starting};

  // A tool call was answered: counted for /metrics and logged at debug with its fields.
  void call_answered(const ReplyTo& to, const Reply& reply);
  // The Prometheus text of /metrics (node_metrics.cpp). Any thread.
  std::string metrics();
  // Whether the node serves now; if not, why (/readyz). Any thread.
  Readiness readiness() const;

  // The data of $SRV.STATS: the node's load, its servers, and its sessions against [node] limits.
  nlohmann::json stats_data() const;

  ReplicatedCatalog* replicated() { return cluster ? cluster->catalog() : nullptr; }
  Affinity* affinity() { return cluster ? cluster->affinity() : nullptr; }
  // The error for a server this node does not run: unknown (or a name that cannot be one), or
  // refused by the [security] policy (forbidden).
  Error unknown_server(const std::string& name) const;
};

// What the built-in "mcpd" server reads of `node` (builtin/cluster_view.cpp); every function
// answers emptily once the node is gone.
struct ClusterView;
ClusterView cluster_view(std::weak_ptr<Node> node);

}  // namespace mcpd::node
