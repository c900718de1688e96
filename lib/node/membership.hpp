// Which mcpd nodes are alive: every node publishes a heartbeat on <prefix>.nodes.heartbeat
// every `interval`, and one saying it is leaving when it stops. A node not heard from for
// `timeout` is taken for gone (a SIGKILLed node says nothing); so is a node that NATS says
// nobody serves any more (mark_gone(), probe()), until its next heartbeat. Used to decide
// whether the owner of an affine session can still answer, or its session must be taken over.
// Every change is logged once: "node X is in the cluster", "node X left the cluster: <why>".
#pragma once

#include "bus/connection.hpp"
#include "common/thread_annotations.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace mcpd::node {

class Membership {
 public:
  using Clock = std::chrono::steady_clock;
  Membership(std::shared_ptr<bus::Connection> bus, std::string subject, std::string node_id,
             std::chrono::milliseconds interval = std::chrono::milliseconds(1000),
             std::chrono::milliseconds timeout = std::chrono::milliseconds(3500));
  ~Membership();

  // What asking NATS about a node said: it answered (there), nobody serves it (gone), or
  // nothing in time (unknown: its server may not have noticed a death yet, or it is stuck).
  enum class Presence { there, gone, unknown };
  // Asks NATS whether a node is there right now; blocking. Set before start(); unset, probe()
  // says unknown and heartbeats alone decide.
  void set_probe(std::function<Presence(const std::string& node)> probe) { probe_ = std::move(probe); }

  Status start();
  // Says goodbye (other nodes stop routing to us at once) and stops the heartbeat.
  void leave();

  // A node never heard from counts as alive until this node has listened for a whole
  // `timeout`: just started, it cannot tell a silent node from one whose heartbeat is yet to come.
  bool alive(const std::string& node) const MCPD_EXCLUDES(mu_);
  std::vector<std::string> live_nodes() const MCPD_EXCLUDES(mu_);
  const std::string& self() const { return node_id_; }
  std::chrono::milliseconds timeout() const { return timeout_; }

  // NATS said nobody serves `node` (its connection is gone): take it for gone now rather than
  // when its heartbeats time out. `why` goes in the log line. Its next heartbeat brings it back.
  void mark_gone(const std::string& node, const std::string& why) MCPD_EXCLUDES(mu_);
  // Blocking (the probe's own timeout): asks NATS whether `node` is there; a node found gone
  // is marked gone.
  Presence probe(const std::string& node) MCPD_EXCLUDES(mu_);
  // Blocks until `node` is no longer alive (silent for `timeout`, left, marked gone) or
  // `within` passed; true if it is gone. For deciding about a node that does not answer.
  bool wait_gone(const std::string& node, std::chrono::milliseconds within) MCPD_EXCLUDES(mu_);

 private:
  struct Peer {
    Clock::time_point seen;  // its last heartbeat
    bool gone = false;       // logged as gone (left, timed out, marked); cleared by a heartbeat
  };
  void on_heartbeat(const bus::Message& m) MCPD_EXCLUDES(mu_);
  void beat(bool leaving);
  // The ticker: nodes whose heartbeats timed out are logged as gone, once.
  void expire() MCPD_EXCLUDES(mu_);
  bool alive_locked(const std::string& node, Clock::time_point now) const MCPD_REQUIRES(mu_);

  std::shared_ptr<bus::Connection> bus_;
  std::string subject_, node_id_;
  std::chrono::milliseconds interval_, timeout_;
  std::function<Presence(const std::string&)> probe_;
  std::unique_ptr<bus::Subscription> sub_;
  mutable Mutex mu_;
  std::map<std::string, Peer> peers_ MCPD_GUARDED_BY(mu_);
  Clock::time_point started_ MCPD_GUARDED_BY(mu_);
  std::condition_variable_any stop_cv_;
  std::condition_variable_any changed_cv_;  // a node was marked gone, or we are stopping
  bool stopping_ MCPD_GUARDED_BY(mu_) = false;
  std::thread ticker_;
};

}  // namespace mcpd::node
