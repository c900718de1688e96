// Session affinity across nodes: a call with a session_id must reach the same MCP session for
// that session's life, whichever node NATS hands it to. Ownership of each (server, session)
// lives in a JetStream key-value bucket: claimed atomically (create), renewed while in use,
// expiring with the bucket's TTL when nobody renews it, released when the owner closes the
// session or drains. A node that is not the owner forwards the call to the owner's
// node-specific subject (handlers/execute.cpp: the owner accepts it, then answers the caller
// directly). An owner that is gone (Membership: no heartbeat, or NATS said nobody serves it) is
// replaced by compare-and-set, and the new owner's reply says session_reset.
//
// The bookkeeping of claimed keys is bounded: an entry goes when its session is released (closed,
// evicted, refused by the pool) and when it was not renewed for longer than the bucket's TTL
// (its key has expired by then), swept at most once per TTL/3.
//
// resolve() blocks on key-value round trips: call it off NATS delivery threads.
#pragma once

#include "bus/kv.hpp"
#include "common/thread_annotations.hpp"
#include "node/membership.hpp"

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace mcpd::node {

class Affinity {
 public:
  enum class Decision {
    local,        // this node owns the session (and has run it in this process)
    local_reset,  // this node owns it now, but the session's earlier state is gone
    forward,      // another live node owns it: send the call there
  };
  struct Route {
    Decision decision = Decision::local;
    std::string owner;  // for forward
  };

  Affinity(std::shared_ptr<bus::Connection> bus, Membership& membership, bus::KvOptions options);
  ~Affinity();
  Status start();

  Result<Route> resolve(const std::string& server, const std::string& session_id);
  // This node closed the session (idle, evicted, crashed) or its pool refused to open it: let
  // the key go.
  void release(const std::string& server, const std::string& session_id);
  // Drain: let every key this node owns go, so other nodes take over at once; from then on this
  // node claims nothing (resolve() forwards to a live owner, or answers local without a claim).
  void release_all();
  // Keys this process holds (bookkeeping entries, expired ones included until swept).
  std::size_t owned() const;

 private:
  struct Owned {
    std::uint64_t revision = 0;
    std::chrono::steady_clock::time_point renewed;
  };
  static std::string key(const std::string& server, const std::string& session_id);
  std::string value() const;
  void keep(const std::string& k, std::uint64_t revision);
  // Drops entries not renewed for longer than the TTL, at most once per TTL/3.
  void sweep_locked(std::chrono::steady_clock::time_point now) MCPD_REQUIRES(mu_);

  std::shared_ptr<bus::Connection> bus_;
  Membership& membership_;
  bus::KvOptions options_;
  std::unique_ptr<bus::KeyValue> kv_;
  mutable Mutex mu_;
  std::map<std::string, Owned> owned_ MCPD_GUARDED_BY(mu_);  // keys this process claimed
  std::chrono::steady_clock::time_point swept_ MCPD_GUARDED_BY(mu_);  // the last sweep_locked()
  bool draining_ MCPD_GUARDED_BY(mu_) = false;               // release_all() was called
};

}  // namespace mcpd::node
