#include "node/cluster.hpp"

#include <spdlog/spdlog.h>

#include <map>
#include <mutex>

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
  // Every live node answers $SRV.PING.mcpd.<id> (discovery); "no responders" means the owner is
  // gone now, so its sessions are taken over at once rather than after its heartbeats time out.
  // Any other outcome (an answer, a timeout) counts as there: never take over from a slow node.
  affinity_->set_probe([bus = bus_](const std::string& node) {
    auto r = bus->request("$SRV.PING.mcpd." + node, "", std::chrono::milliseconds(500));
    return r.ok() || r.error().code != Errc::unavailable;
  });
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
  if (opts_.jetstream == ClusterOptions::Mode::on) {
    // A JetStream cluster that has just come up may leave a first request unanswered while it
    // settles (routes, leaders): insist for a while before giving up.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (err && std::chrono::steady_clock::now() < deadline) {
      spdlog::warn("cluster: JetStream is not usable yet ({}); trying again", err->message);
      std::this_thread::sleep_for(std::chrono::seconds(1));
      err = try_jetstream();
    }
    if (err)
      return make_error(Errc::unavailable, "cluster: JetStream is required ([cluster] jetstream = \"on\") but " + err->message);
    return std::nullopt;
  }
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
  if (catalog_ready_) catalog_->stop();  // a live watch would hold up the connection's drain
  membership_->leave();
}

}  // namespace mcpd::node
