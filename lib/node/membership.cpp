#include "node/membership.hpp"

#include "common/json_limits.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace mcpd::node {

using Json = nlohmann::json;

Membership::Membership(std::shared_ptr<bus::Connection> bus, std::string subject, std::string node_id,
                       std::chrono::milliseconds interval, std::chrono::milliseconds timeout)
    : bus_(std::move(bus)), subject_(std::move(subject)), node_id_(std::move(node_id)), interval_(interval), timeout_(timeout) {}

Membership::~Membership() { leave(); }

Status Membership::start() {
  {
    MutexLock lock(mu_);
    started_ = Clock::now();
  }
  auto sub = bus_->subscribe(subject_, [this](bus::Message m) { on_heartbeat(m); });
  if (!sub.ok()) return sub.error();
  sub_ = std::move(sub).value();
  ticker_ = std::thread([this] {
    MutexLock lock(mu_);
    while (!stopping_) {
      lock.unlock();
      beat(false);
      expire();
      lock.lock();
      stop_cv_.wait_for(mu_, interval_, [this]() MCPD_REQUIRES(mu_) { return stopping_; });
    }
  });
  return {};
}

void Membership::leave() {
  {
    MutexLock lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  stop_cv_.notify_all();
  changed_cv_.notify_all();
  if (ticker_.joinable()) ticker_.join();
  if (sub_) beat(true);
  sub_.reset();
}

void Membership::beat(bool leaving) {
  Json j = {{"node", node_id_}};
  if (leaving) j["leaving"] = true;
  // A lost heartbeat is covered by the next one; only a run of them makes others take over.
  if (auto st = bus_->publish(subject_, j.dump()); !st.ok()) spdlog::debug("heartbeat not sent: {}", st.error().message);
}

void Membership::on_heartbeat(const bus::Message& m) {
  // From the bus: bounded like every other body that arrives there.
  auto parsed = json::parse(m.data(), json::kDefaultMaxDepth);
  Json j = parsed.ok() ? std::move(parsed).value() : Json();
  if (!j.is_object() || !j.contains("node") || !j["node"].is_string()) return;
  const std::string node = j["node"].get<std::string>();
  const bool leaving = j.value("leaving", false);
  bool was_gone = false;
  bool known = false;
  {
    MutexLock lock(mu_);
    auto it = peers_.find(node);
    known = it != peers_.end();
    was_gone = known && it->second.gone;
    Peer& p = peers_[node];
    if (leaving) {
      p.seen = Clock::time_point{};
      p.gone = true;
    } else {
      p.seen = Clock::now();
      p.gone = false;
    }
  }
  if (node == node_id_) return;  // our own heartbeat (listed by live_nodes()): nothing to say
  if (leaving) {
    changed_cv_.notify_all();
    if (known && !was_gone) spdlog::info("node {} left the cluster: it said goodbye", node);
  } else if (!known || was_gone) {
    spdlog::info("node {} is in the cluster", node);
  }
}

void Membership::expire() {
  std::vector<std::pair<std::string, double>> timed_out;  // node, seconds since its last heartbeat
  {
    MutexLock lock(mu_);
    const auto now = Clock::now();
    for (auto& [node, p] : peers_) {
      // Our own heartbeats stop while NATS is away; that says nothing about this node.
      if (node == node_id_ || p.gone || now - p.seen < timeout_) continue;
      p.gone = true;
      timed_out.emplace_back(node, std::chrono::duration<double>(now - p.seen).count());
    }
  }
  if (timed_out.empty()) return;
  changed_cv_.notify_all();
  for (const auto& [node, silent] : timed_out)
    spdlog::info("node {} left the cluster: no heartbeat for {:.1f} s", node, silent);
}

void Membership::mark_gone(const std::string& node, const std::string& why) {
  if (node == node_id_) return;
  bool was_gone = false;
  {
    MutexLock lock(mu_);
    Peer& p = peers_[node];  // never heard from, yet known to be gone: recorded as gone
    was_gone = p.gone;
    p.gone = true;
  }
  changed_cv_.notify_all();
  if (!was_gone) spdlog::info("node {} left the cluster: {}", node, why);
}

Membership::Presence Membership::probe(const std::string& node) {
  if (node == node_id_) return Presence::there;
  if (!probe_) return Presence::unknown;
  const Presence p = probe_(node);
  if (p == Presence::gone) mark_gone(node, "NATS has no responders for it");
  return p;
}

bool Membership::wait_gone(const std::string& node, std::chrono::milliseconds within) {
  const auto end = Clock::now() + within;
  MutexLock lock(mu_);
  for (;;) {
    const auto now = Clock::now();
    if (!alive_locked(node, now)) return true;
    if (stopping_ || now >= end) return false;
    // Alive until its heartbeat times out, unless something marks it gone before.
    auto it = peers_.find(node);
    const auto expires = (it == peers_.end() ? started_ : it->second.seen) + timeout_;
    changed_cv_.wait_until(mu_, std::min(end, expires));
  }
}

bool Membership::alive_locked(const std::string& node, Clock::time_point now) const {
  if (node == node_id_) return true;
  auto it = peers_.find(node);
  if (it == peers_.end()) return now - started_ < timeout_;
  return !it->second.gone && now - it->second.seen < timeout_;
}

bool Membership::alive(const std::string& node) const {
  MutexLock lock(mu_);
  return alive_locked(node, Clock::now());
}

std::vector<std::string> Membership::live_nodes() const {
  std::vector<std::string> out;
  MutexLock lock(mu_);
  const auto now = Clock::now();
  for (const auto& [node, p] : peers_)
    if (!p.gone && now - p.seen < timeout_) out.push_back(node);
  return out;
}

}  // namespace mcpd::node
