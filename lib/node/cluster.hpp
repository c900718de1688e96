// What makes several nodes one cluster: heartbeats (Membership), and — when the NATS servers
// run JetStream — the replicated catalog of record and cross-node session affinity. With
// `mode = auto` a node whose NATS has no JetStream (or is not reachable yet) runs as before
// and keeps trying in the background; `on` insists (start fails without JetStream); `off`
// never uses it. Blocking JetStream work (affinity lookups, catalog fetches) runs on the node's
// blocking pool (io::BlockingPool), never on NATS delivery threads or the loop.
#pragma once

#include "bus/connection.hpp"
#include "common/thread_annotations.hpp"
#include "catalog/store.hpp"
#include "node/affinity.hpp"
#include "node/membership.hpp"
#include "node/replicated_catalog.hpp"
#include "node/subjects.hpp"

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace mcpd::node {

struct ClusterOptions {
  enum class Mode { automatic, on, off } jetstream = Mode::automatic;
  int replicas = 1;                                 // 3 in a 3-node JetStream cluster
  std::chrono::seconds session_ttl{300};            // an unused ownership expires after this
  std::chrono::milliseconds heartbeat{1000};
  bool follow_catalog = true;  // false: no catalog of record (session affinity only)
};

class Cluster {
 public:
  Cluster(ClusterOptions options, std::shared_ptr<bus::Connection> bus, catalog::Store& store, Subjects subjects,
          std::string node_id, ReplicatedCatalog::Hooks catalog_hooks);
  ~Cluster();

  Status start();
  // Says goodbye: releases session ownerships, stops heartbeats and background work.
  void leave();

  // Null until JetStream is in use.
  ReplicatedCatalog* catalog() { return catalog_ready_ ? catalog_.get() : nullptr; }
  Affinity* affinity() { return affinity_ready_ ? affinity_.get() : nullptr; }
  Membership& membership() { return *membership_; }

 private:
  Status try_jetstream();

  ClusterOptions opts_;
  std::shared_ptr<bus::Connection> bus_;
  catalog::Store& store_;
  Subjects subjects_;
  std::string node_id_;
  std::unique_ptr<Membership> membership_;
  std::unique_ptr<ReplicatedCatalog> catalog_;
  std::unique_ptr<Affinity> affinity_;
  std::atomic<bool> catalog_ready_{false}, affinity_ready_{false};

  Mutex mu_;
  std::condition_variable_any cv_;
  bool stopping_ MCPD_GUARDED_BY(mu_) = false;
  std::thread starter_;                     // retries JetStream in auto mode
};

}  // namespace mcpd::node
