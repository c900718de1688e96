#include "node/membership.hpp"

#include "common/json_limits.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

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
  MutexLock lock(mu_);
  auto it = last_seen_.find(node);
  const bool known = it != last_seen_.end() && it->second != Clock::time_point{};
  if (j.value("leaving", false)) {
    if (known) spdlog::info("node {} left the cluster", node);
    last_seen_[node] = Clock::time_point{};  // known to be gone (not merely never heard from)
    return;
  }
  last_seen_[node] = Clock::now();
  if (!known && node != node_id_) spdlog::info("node {} is in the cluster", node);
}

bool Membership::alive(const std::string& node) const {
  if (node == node_id_) return true;
  MutexLock lock(mu_);
  auto it = last_seen_.find(node);
  if (it == last_seen_.end()) return Clock::now() - started_ < timeout_;
  return Clock::now() - it->second < timeout_;
}

std::vector<std::string> Membership::live_nodes() const {
  std::vector<std::string> out;
  MutexLock lock(mu_);
  auto now = Clock::now();
  for (const auto& [node, seen] : last_seen_)
    if (now - seen < timeout_) out.push_back(node);
  return out;
}

}  // namespace mcpd::node
