// Which mcpd nodes are alive: every node publishes a heartbeat on <prefix>.nodes.heartbeat
// every `interval`, and one saying it is leaving when it stops. A node not heard from for
// `timeout` is taken for gone (a SIGKILLed node says nothing). Used to decide whether the
// owner of an affine session can still answer, or its session must be taken over.
#pragma once

#include "bus/connection.hpp"
#include "common/thread_annotations.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
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

  Status start();
  // Says goodbye (other nodes stop routing to us at once) and stops the heartbeat.
  void leave();

  // A node never heard from counts as alive until this node has listened for a whole
  // `timeout`: just started, it cannot tell a silent node from one whose heartbeat is yet to come.
  bool alive(const std::string& node) const;
  std::vector<std::string> live_nodes() const;
  const std::string& self() const { return node_id_; }

 private:
  void on_heartbeat(const bus::Message& m);
  void beat(bool leaving);

  std::shared_ptr<bus::Connection> bus_;
  std::string subject_, node_id_;
  std::chrono::milliseconds interval_, timeout_;
  std::unique_ptr<bus::Subscription> sub_;
  mutable Mutex mu_;
  std::map<std::string, Clock::time_point> last_seen_ MCPD_GUARDED_BY(mu_);  // a node that left: time_point{}
  Clock::time_point started_ MCPD_GUARDED_BY(mu_);
  std::condition_variable_any stop_cv_;
  bool stopping_ MCPD_GUARDED_BY(mu_) = false;
  std::thread ticker_;
};

}  // namespace mcpd::node
