// CatalogSync: how this node's catalog changes and how the cluster hears of it.
//   - Local changes (the admin API, the config file): written to the catalog of record when
//     JetStream is in use (its watch then brings them to every node), else to SQLite; the pools
//     follow, and a <prefix>.servers.created / .deleted event tells nodes without JetStream.
//   - Events from other nodes: decide_event() says what one means (pure, unit-tested);
//     CatalogSync applies the decisions one at a time, in arrival order, on a thread of its own
//     (SQLite writes, JetStream reads; never the loop).
//     Events are notifications, not commands: with JetStream, an event only makes the node read
//     the server's record from the bucket (nothing the event carries is stored); without it, an
//     event is applied by revision, and a revision beyond kMaxEventRevision is refused, so no
//     event can push the Lamport clock to where local changes would overflow. Either way an
//     event passes the node's Admission first: with remote_registration = false none is
//     applied, and a record the policy refuses is not stored.
//
// Thread-safe. put(), remove(), announce() and fetch() block (SQLite, JetStream): call them on
// the blocking pool or from main, never on the loop or a NATS delivery thread.
#pragma once

#include "bus/connection.hpp"
#include "catalog/store.hpp"
#include "io/blocking_pool.hpp"
#include "node/admission.hpp"
#include "node/pool_registry.hpp"
#include "node/replicated_catalog.hpp"
#include "node/subjects.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace mcpd::node {

// What a catalog event asks of this node.
struct EventDecision {
  enum class Action {
    ignore,        // not applicable; `reason` says why (logged)
    apply_put,     // store `config` if newer than what is here (it carries its revision)
    local_put,     // an event without a revision and no catalog of record: store it as a change here
    apply_delete,  // delete `name` unless what is here is newer than `revision`
    refresh,       // JetStream in use: read `name`'s record from the catalog of record
  } action = Action::ignore;
  std::optional<catalog::ServerConfig> config;
  std::string name;
  std::optional<std::int64_t> revision;
  std::string reason;
};

// The largest revision an event may carry (2^53, the largest integer every JSON reader keeps
// exactly): far beyond any real catalog, far below where max_revision() + 1 could overflow.
inline constexpr std::int64_t kMaxEventRevision = std::int64_t{1} << 53;

// `jetstream`: this node uses a catalog of record. A message with a reply subject is a request
// sent to an event subject: never applied.
EventDecision decide_event(const Subjects& subjects, std::string_view subject, std::string_view data, bool has_reply,
                           bool jetstream);

class CatalogSync {
 public:
  // `replicated` gives the catalog of record, or null while JetStream is not in use.
  CatalogSync(Subjects subjects, catalog::Store& store, std::shared_ptr<bus::Connection> bus, PoolRegistry& registry,
              const Admission& admission, std::function<ReplicatedCatalog*()> replicated);
  ~CatalogSync();

  // Subscribes to <prefix>.servers.* (every node, no queue group).
  Status start();
  // Unsubscribes and lets the events already queued be applied.
  void stop();

  // A local change. put: returns the record as stored (revision assigned); remove: the
  // revision deleted, nullopt if there was no such server. Blocking.
  Result<catalog::ServerConfig> put(const catalog::ServerConfig& config);
  Result<std::optional<std::int64_t>> remove(const std::string& name);
  // A server changed outside the admin API (the config file): written to the catalog of record
  // when JetStream is in use (unless it holds it as written already), else published as a
  // created event. Blocking.
  void announce(const catalog::ServerConfig& config);
  // A server this node has not heard of: ask the catalog of record (perhaps it was created on
  // another node a moment ago) and run it if it exists. Blocking.
  void fetch(const std::string& name);

  // Applies a decision (exposed for tests). Blocking.
  void apply(const EventDecision& decision);

 private:
  void publish(const std::string& subject, const std::string& body);

  Subjects subjects_;
  catalog::Store& store_;
  std::shared_ptr<bus::Connection> bus_;
  PoolRegistry& registry_;
  const Admission& admission_;
  std::function<ReplicatedCatalog*()> replicated_;
  io::BlockingPool applier_{"mcpd-events", 1};  // one thread: events apply in arrival order
  std::unique_ptr<bus::Subscription> events_;
};

}  // namespace mcpd::node
