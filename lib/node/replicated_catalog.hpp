// The catalog of record for a cluster: one JetStream key-value bucket of MCPServer records
// (key: server name), replicated by JetStream (R3 in a 3-node cluster). Every node watches it
// and applies each change to its SQLite copy and its pools, in the bucket's order, so
// concurrent changes end the same on every node and a node that was away converges from the
// snapshot it gets when it reconnects. The SQLite copy lets a node start while NATS is away.
//
// The bucket is authoritative: a snapshot replaces what the copy says; records that exist only
// in the copy (added while the cluster was unreachable) are written to the bucket.
#pragma once

#include "bus/kv.hpp"
#include "common/thread_annotations.hpp"
#include "catalog/store.hpp"

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace mcpd::node {

// A bucket just created (or whose stream leader was lost) has no stream leader for a moment,
// while its replicas elect one: writes then find no responder. Waits (polling the JetStream API's
// STREAM.INFO) until the bucket's stream has a leader, or `timeout` passes. Blocking.
Status wait_for_bucket_leader(bus::Connection& bus, const std::string& bucket,
                                            std::chrono::milliseconds timeout);

class ReplicatedCatalog {
 public:
  // Run with mu_ held, on the watch thread or the thread of put/remove/fetch (never the
  // loop): they may read SQLite, must not call back into this catalog.
  struct Hooks {
    std::function<void(const std::string&)> changed;  // run (or replace) this server as stored now
    std::function<void(const std::string&)> removed;  // stop this server
  };
  ReplicatedCatalog(std::shared_ptr<bus::Connection> bus, catalog::Store& store, bus::KvOptions options, Hooks hooks);
  ~ReplicatedCatalog();

  // Opens (or creates) the bucket and starts watching it. An error means JetStream cannot be
  // used (not enabled, not reachable): the node then runs on events alone.
  Status start();

  // A change made on this node: written to the bucket (which orders it), then applied here at
  // once. Returns the record as stored, its revision the bucket's.
  Result<catalog::ServerConfig> put(const catalog::ServerConfig& config);
  // A record of this node's config file, at start: written to the bucket unless the bucket
  // holds the same definition already (a restart with an unchanged file writes nothing). Until
  // the watch's first snapshot is in, it waits for it: the bucket may hold another node's
  // version of the server, which the file then replaces. Blocking.
  void claim(const catalog::ServerConfig& config);
  // Returns the revision deleted (the one this node knew), nullopt if no such server exists.
  Result<std::optional<std::int64_t>> remove(const std::string& name);
  // The bucket's record of one server (for a node that has not seen it yet), applied here;
  // nullopt when the bucket has none. Blocking.
  Result<std::optional<catalog::ServerConfig>> fetch(const std::string& name);
  // Stops watching the bucket (before the connection drains: a live watch holds a drain up).
  void stop();

 private:
  void on_entry(const bus::KvEntry& entry);
  void on_snapshot_done();
  void apply_put(const catalog::ServerConfig& config, bool force) MCPD_REQUIRES(mu_);
  void apply_delete(const std::string& name, std::int64_t revision, bool force) MCPD_REQUIRES(mu_);
  // Writes `config` to the bucket with the store's creation time and now as its update time;
  // returns the record as written, its revision the bucket's. Not applied here yet.
  Result<catalog::ServerConfig> write(const catalog::ServerConfig& config);
  // Whether the store holds `config` as it is (a claim then has nothing to write).
  bool holds(const catalog::ServerConfig& config);
  void settle_claim(const catalog::ServerConfig& config) MCPD_REQUIRES(mu_);

  std::shared_ptr<bus::Connection> bus_;
  catalog::Store& store_;
  bus::KvOptions options_;
  Hooks hooks_;
  std::unique_ptr<bus::KeyValue> kv_;
  std::unique_ptr<bus::KeyValue::Watch> watch_;
  // Serialises applying (watch thread vs local changes); held while hooks run, so it is taken
  // before PoolRegistry's.
  Mutex mu_;
  bool in_snapshot_ MCPD_GUARDED_BY(mu_) = true;
  std::vector<bus::KvEntry> snapshot_ MCPD_GUARDED_BY(mu_);
  std::vector<catalog::ServerConfig> claimed_ MCPD_GUARDED_BY(mu_);  // claims made before the snapshot
};

}  // namespace mcpd::node
