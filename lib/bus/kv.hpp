// JetStream key-value buckets over the bus: open (create or bind), get, put, create-if-absent,
// compare-and-set update and delete, list keys, and watch — RAII over nats.c's jsCtx + kvStore,
// which no user of this header sees.
//
// Blocking: every KeyValue call is a JetStream request and blocks until the server answers or
// KvOptions::timeout passes. Never call one on a nats.c thread (a message handler, a connection
// callback): it would stall every subscription sharing that delivery thread, and nats.c may need
// that very thread to deliver the answer. Such a call is refused with Kind::invalid /
// Errc::internal instead of risking the deadlock; hand the work to a thread of your own. A
// watch's callbacks run on the watch's own thread (not nats.c's), so they may call KeyValue.
//
// Thread safety: a KeyValue may be used from any number of threads at once. A KvWatch
// (KeyValue::Watch) is owned by one thread at a time; it may be destroyed from inside its own
// callbacks.
//
// Errors: every failure is a KvError — an mcpd Error (code + message a person can act on) plus a
// Kind that says what the caller can do about it:
//   conflict     create() on an existing key, update()/erase_if() with a stale revision. Re-read
//                and retry. Errc::invalid_request; `current_revision` is the key's revision
//                according to the server (0: the key does not exist).
//   not_found    the bucket does not exist (deleted behind our back; found out by asking the
//                server after a failure, and a get() on a deleted bucket only fails after
//                `timeout`: JetStream does not answer it). Errc::unavailable.
//   unavailable  not connected, JetStream not enabled or not ready, or no answer in time
//                (Errc::unavailable or Errc::timeout). Retry later. A timed-out write may or may
//                not have been applied: re-read before retrying a compare-and-set.
//   invalid      a bad bucket name, key, option or value size (Errc::invalid_request or
//                Errc::too_large), or a call from a nats.c thread (Errc::internal).
//   other        anything else (Errc::internal).
// A missing key is not an error: get() returns nullopt.
//
// Wire protocol: writes are JetStream publishes to "$KV.<bucket>.<key>" with the KV headers
// (as nats.c's kvStore_* do — the JetStream context uses the default API prefix, no domain),
// made here so that the server's JetStream error code reaches us: nats.c 3.4.1's kvStore_Update
// only returns NATS_ERR with a text, and it has no compare-and-set delete.
#pragma once

#include "bus/connection.hpp"
#include "common/error.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace mcpd::bus {

struct KvOptions {
  std::string bucket;  // letters, digits, '-' and '_'
  int replicas = 1;    // 1..5; more than 1 needs a JetStream cluster
  std::int64_t history = 1;  // values kept per key, 1..64
  // Age after which a value disappears; 0 keeps values forever. The server expires values without
  // writing a delete marker, so a Watch is NOT told that a key aged out: track ages yourself.
  std::chrono::milliseconds ttl{0};
  // Largest value accepted (checked here, before sending); -1: only the server's max_payload
  // limits a value. The server's own limit counts headers too, so the bucket is created with
  // room for them on top: a full-size value can still be updated and deleted.
  std::int64_t max_value_bytes = -1;
  // How long each JetStream request (open, get, put, ...) waits for the server.
  Duration timeout{5000};
};

// Keys: letters, digits and - _ / \ = , with '.' between non-empty tokens ("sessions.node-1").
struct KvEntry {
  std::string key;
  std::string value;  // empty for del and purge
  std::uint64_t revision = 0;  // the bucket's sequence number of this write; grows with every write
  enum class Op { put, del, purge } op = Op::put;
  std::chrono::system_clock::time_point created;  // when the server stored it
};

struct KvError : Error {
  enum class Kind { conflict, not_found, unavailable, invalid, other };
  Kind kind = Kind::other;
  std::uint64_t current_revision = 0;  // conflict only: the key's revision the server reported
};

constexpr std::string_view to_string(KvError::Kind kind) {
  switch (kind) {
    case KvError::Kind::conflict: return "conflict";
    case KvError::Kind::not_found: return "not_found";
    case KvError::Kind::unavailable: return "unavailable";
    case KvError::Kind::invalid: return "invalid";
    case KvError::Kind::other: return "other";
  }
  return "other";
}

// A value or a KvError: the common Result with the error's kind kept.
template <typename T>
using KvResult = Result<T, KvError>;

using KvStatus = BasicStatus<KvError>;

// True if `r` failed with a compare-and-set conflict.
template <typename R>
bool is_conflict(const R& r) {
  return !r.ok() && r.error().kind == KvError::Kind::conflict;
}

namespace detail {
struct KvState;
struct KvWatchState;
}  // namespace detail

// A running watch: stops (and joins its thread) when destroyed.
class KvWatch {
  struct Key {
    explicit Key() = default;
  };

 public:
  KvWatch(Key, std::shared_ptr<detail::KvWatchState> state);
  // stop()
  ~KvWatch();
  KvWatch(const KvWatch&) = delete;
  KvWatch& operator=(const KvWatch&) = delete;

  // Stops the watch: no callback starts after this returns, and the thread is joined — within
  // the watch's poll interval (250 ms), or as long as a JetStream request the thread is making
  // to re-create its watcher takes. Called from the watch's own callback, it returns at once and
  // the thread ends when the callback returns. Idempotent.
  void stop();
  // How many times the underlying nats.c watcher was re-created (after a reconnect or a break).
  std::uint64_t restarts() const;

 private:
  friend class KeyValue;
  std::shared_ptr<detail::KvWatchState> state_;
};

class KeyValue {
  struct Key {
    explicit Key() = default;
  };

 public:
  using Watch = KvWatch;

  // Creates the bucket if it does not exist, else binds to it. An existing bucket whose settings
  // differ from `options` is used as is, and the difference is logged as a warning (settings
  // are not changed behind other nodes' backs). Needs the connection to be up. The KeyValue (and
  // its watches) keep the Connection alive.
  static KvResult<std::unique_ptr<KeyValue>> open(Connection& conn, KvOptions options);

  KeyValue(Key, std::shared_ptr<detail::KvState> state);
  ~KeyValue();
  KeyValue(const KeyValue&) = delete;
  KeyValue& operator=(const KeyValue&) = delete;

  // The current value; nullopt if the key does not exist, was deleted or aged out.
  KvResult<std::optional<KvEntry>> get(const std::string& key);
  // The same, asked of the stream's leader: get() may be answered by a replica that has not
  // yet applied a write made a moment ago (through another node); this never is.
  KvResult<std::optional<KvEntry>> get_latest(const std::string& key);
  // Writes unconditionally; returns the new revision.
  KvResult<std::uint64_t> put(const std::string& key, std::string_view value);
  // Writes only if the key does not exist (a deleted or aged-out key counts as absent).
  // conflict: "bucket B: key 'k' already exists (revision N)".
  KvResult<std::uint64_t> create(const std::string& key, std::string_view value);
  // Writes only if the key's latest revision is `last_revision` (compare-and-set). 0 means "the
  // key has never been written or has aged out" (a delete marker is a revision: use create()).
  // conflict: "bucket B: wrong last revision for key 'k': expected 5 (the key is at revision 7)".
  KvResult<std::uint64_t> update(const std::string& key, std::string_view value, std::uint64_t last_revision);
  // Deletes by writing a delete marker (watchers see Op::del). Deleting a missing key succeeds.
  KvStatus erase(const std::string& key);
  // Deletes only if the key's latest revision is `last_revision` (> 0); conflict otherwise.
  KvStatus erase_if(const std::string& key, std::uint64_t last_revision);
  // Every key that has a value now (not deleted), sorted.
  KvResult<std::vector<std::string>> keys();

  // Watches keys matching `pattern` (a key, with "*" for one token and a final ">" for any
  // number; "*" or ">" for all): on a thread of its own, first on_entry() for every current
  // value (deleted keys whose delete marker is still kept come as Op::del), then
  // on_initial_done(), then on_entry() for every change as it happens, in order, until the
  // returned watch is destroyed. Keys that age out (KvOptions::ttl) are never reported.
  //
  // Reconnects: when the connection comes back after a loss, or the watcher breaks, the watch
  // is re-created (retrying with backoff while JetStream is unreachable; logged) and delivers
  // again every current value followed by on_initial_done() — so on_initial_done() may be
  // called more than once, and callbacks must be idempotent: an entry may come twice. A key
  // deleted meanwhile comes as its delete marker (Op::del); one purged or aged out is simply
  // absent from the new snapshot, so a caller that keeps a copy should drop what the snapshot
  // did not mention. Callbacks must not throw (an exception is logged and dropped).
  // If the bucket is deleted under a running watch, the watch goes quiet (nats.c keeps trying
  // to re-create its consumer and reports that to the connection's error log).
  //
  // The first watcher is created before this returns, so a bad pattern or an unreachable
  // JetStream fails here.
  KvResult<std::unique_ptr<Watch>> watch(const std::string& pattern, std::function<void(const KvEntry&)> on_entry,
                                         std::function<void()> on_initial_done);

  const std::string& bucket() const;

 private:
  std::shared_ptr<detail::KvState> state_;
};

}  // namespace mcpd::bus
