// TaskStore: where tasks live, so that any node can answer for them. Two kinds:
//  - JetStream key-value (open_kv_store): one bucket for the cluster, values aged out by the
//    bucket a while after the longest TTL a task may have; every node reads and writes it.
//  - SQLite (open_sqlite_store): a node without JetStream keeps its tasks in a table of its own
//    catalog file, so they survive a restart.
// Writes are compare-and-set on a revision: two nodes (or a runner and a canceller) never
// overwrite each other's change unseen.
//
// Every method blocks on a round trip (JetStream or SQLite): call them off NATS delivery
// threads and off the event loop (the node's blocking pool). Thread-safe.
#pragma once

#include "bus/connection.hpp"
#include "common/error.hpp"
#include "tasks/task.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mcpd::tasks {

struct Versioned {
  Task task;
  std::uint64_t revision = 0;
};

class TaskStore {
 public:
  virtual ~TaskStore() = default;
  // The task, or nullopt if there is none with this id (expired ones included: see Task::expired).
  virtual Result<std::optional<Versioned>> get(const std::string& id) = 0;
  // Stores a new task; returns its revision.
  virtual Result<std::uint64_t> create(const Task& task) = 0;
  // Replaces the task if it is still at `revision`: the new revision, or nullopt when someone
  // changed it meanwhile (read it again and decide anew).
  virtual Result<std::optional<std::uint64_t>> update(const Task& task, std::uint64_t revision) = 0;
  virtual Status erase(const std::string& id) = 0;
  // Every stored task (for listing and for the expiry and lease sweeps).
  virtual Result<std::vector<Versioned>> all() = 0;
  // The largest stored record (JSON) this store takes; a larger final reply fails its task
  // with too_large instead.
  virtual std::size_t max_record_bytes() const = 0;
  // "jetstream" or "sqlite", for logs and $SRV.STATS.
  virtual std::string kind() const = 0;
};

struct KvStoreOptions {
  std::string bucket = "mcp-tasks";  // "<prefix>-tasks"
  int replicas = 1;
  std::chrono::milliseconds max_ttl{24 * 3600 * 1000};  // the bucket keeps values a little longer
  std::int64_t max_record_bytes = -1;                    // -1: the server's max_payload
};
Result<std::unique_ptr<TaskStore>> open_kv_store(bus::Connection& bus, KvStoreOptions options);

// `path`: the node's SQLite file (":memory:": a private in-memory table, gone with the process).
Result<std::unique_ptr<TaskStore>> open_sqlite_store(const std::string& path, std::size_t max_record_bytes);

}  // namespace mcpd::tasks
