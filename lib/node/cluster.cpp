#include "node/cluster.hpp"

#include <spdlog/spdlog.h>

namespace mcpd::node {

namespace {
constexpr int kWorkers = 2;
}

Cluster::Cluster(ClusterOptions options, std::shared_ptr<bus::Connection> bus, catalog::Store& store, Subjects subjects,
                 std::string node_id, ReplicatedCatalog::Hooks catalog_hooks)
    : opts_(options), bus_(std::move(bus)), store_(store), subjects_(std::move(subjects)), node_id_(std::move(node_id)) {
  membership_ = std::make_unique<Membership>(bus_, subjects_.heartbeat(), node_id_, opts_.heartbeat,
                                             opts_.heartbeat * 3 + std::chrono::milliseconds(500));
  bus::KvOptions cat;
  cat.bucket = subjects_.prefix + "-catalog";
  cat.replicas = opts_.replicas;
  cat.history = 1;
  catalog_ = std::make_unique<ReplicatedCatalog>(bus_, store_, cat, std::move(catalog_hooks));
  bus::KvOptions ses;
  ses.bucket = subjects_.prefix + "-sessions";
  ses.replicas = opts_.replicas;
  ses.ttl = opts_.session_ttl;
  affinity_ = std::make_unique<Affinity>(bus_, *membership_, ses);
  for (int i = 0; i < kWorkers; ++i) workers_.emplace_back([this] { worker_loop(); });
}

Cluster::~Cluster() { leave(); }

std::optional<Error> Cluster::start() {
  if (auto err = membership_->start()) return err;
  if (opts_.jetstream == ClusterOptions::Mode::off) {
    spdlog::info("cluster: JetStream off by configuration (no replicated catalog, no cross-node session affinity)");
    return std::nullopt;
  }
  auto err = try_jetstream();
  if (!err) return std::nullopt;
  if (opts_.jetstream == ClusterOptions::Mode::on)
    return make_error(Errc::unavailable, "cluster: JetStream is required ([cluster] jetstream = \"on\") but " + err->message);
  spdlog::info("cluster: JetStream not in use yet ({}); serving on events alone and retrying in the background",
               err->message);
  starter_ = std::thread([this] {
    for (;;) {
      {
        std::unique_lock lock(mu_);
        if (cv_.wait_for(lock, std::chrono::seconds(2), [this] { return stopping_; })) return;
      }
      if (!try_jetstream()) return;
    }
  });
  return std::nullopt;
}

std::optional<Error> Cluster::try_jetstream() {
  if (!bus_->connected()) return make_error(Errc::unavailable, "NATS is not reachable");
  if (!catalog_ready_) {
    if (auto err = catalog_->start()) return err;
    catalog_ready_ = true;
  }
  if (!affinity_ready_) {
    if (auto err = affinity_->start()) return err;
    affinity_ready_ = true;
  }
  return std::nullopt;
}

void Cluster::post(std::function<void()> work) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    work_.push_back(std::move(work));
  }
  cv_.notify_all();  // the starter waits on the same condition: wake a worker for sure
}

void Cluster::worker_loop() {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !work_.empty(); });
      if (work_.empty()) return;
      job = std::move(work_.front());
      work_.pop_front();
    }
    try {
      job();
    } catch (const std::exception& e) {
      spdlog::error("cluster: background work failed: {}", e.what());
    }
  }
}

void Cluster::leave() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (starter_.joinable()) starter_.join();
  for (auto& w : workers_) w.join();  // queued work finishes first
  workers_.clear();
  if (affinity_ready_ && bus_->connected()) affinity_->release_all();
  membership_->leave();
}

}  // namespace mcpd::node
