// The node's catalog of MCP servers: one SQLite file (WAL) holding every live ServerConfig and a
// tombstone for every deleted one, under a versioned schema migrated at open.
//
// Nodes learn of changes from each other through events that may arrive late, twice or out of
// order. Revisions form a Lamport clock so all nodes end in the same state whatever the order:
// a local change takes max_revision() + 1, a remote change is applied only if it is newer than
// what is stored (ties broken the same way on every node), and a deletion leaves a tombstone so
// that an older put arriving after it cannot bring the server back.
//
// Thread-safe: every call may come from any thread (calls are serialised on one connection).
#pragma once

#include "catalog/server_config.hpp"
#include "common/error.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mcpd::catalog {

// What a remote event did. `applied`: the set of live servers changed (start, replace or stop
// a pool). `unchanged`: the store already agreed (a duplicate, or a delete of something absent).
// `stale`: the store holds something newer; the event was ignored.
enum class Applied { applied, stale, unchanged };
std::string_view to_string(Applied a);

// The trace a deleted server leaves behind.
struct Tombstone {
  std::string name;
  std::int64_t revision = 0;
  std::string deleted_at;  // RFC 3339 UTC, local time of the deletion on this node
};

class Store {
 public:
  // Opens (creating if needed, with its parent directory) the catalog at `path` and brings its
  // schema up to date; ":memory:" gives a private in-memory catalog. Errors name the path.
  static Result<std::unique_ptr<Store>> open(const std::string& path);
  // The file it was opened from (":memory:" for an in-memory catalog).
  const std::string& path() const;
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // A local change: stores `config` with revision max_revision() + 1, updatedAt now, createdAt
  // kept from the live record it replaces (now if there is none). Its own revision and
  // timestamps are ignored. Returns the record as stored.
  Result<ServerConfig> put(ServerConfig config);
  // A local delete: leaves a tombstone at max_revision() + 1 and returns that revision, or
  // nullopt when there was no live record (nothing changes then).
  Result<std::optional<std::int64_t>> remove(const std::string& name);

  // A record from another node, stored as given if its revision is newer than the live record
  // or tombstone here. At equal revisions a tombstone wins, and between two records the one
  // whose canonical JSON compares greater, so every node picks the same one.
  Result<Applied> apply_remote_put(const ServerConfig& config);
  // A delete from another node. With a revision: tombstones the live record unless that record
  // is newer (a tombstone is remembered even if nothing was live, to refuse older puts). Without
  // one (from a publisher that sends none): deletes whatever is live, keeping its revision.
  Result<Applied> apply_remote_delete(const std::string& name, std::optional<std::int64_t> revision);

  // From the replicated catalog of record (JetStream), which is authoritative: stores the
  // record (or a tombstone) exactly as given, revision included, whatever is here.
  Result<Applied> replace(const ServerConfig& config);
  Result<Applied> replace_delete(const std::string& name, std::int64_t revision);

  // Not found is a value (nullopt); an error means the catalog could not be read.
  Result<std::optional<ServerConfig>> get(const std::string& name) const;
  Result<std::optional<Tombstone>> tombstone(const std::string& name) const;
  // Every live record, sorted by name (a record that cannot be decoded is logged and skipped).
  Result<std::vector<ServerConfig>> list() const;
  // The highest revision ever stored or seen here (records and tombstones, local and remote).
  Result<std::int64_t> max_revision() const;
  // The number of live records.
  Result<std::size_t> size() const;
  // The schema version of the open database (the number of migrations applied).
  int schema_version() const;

 private:
  struct Impl;
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mcpd::catalog
