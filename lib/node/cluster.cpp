#include "node/cluster.hpp"

#include <spdlog/spdlog.h>

#include <map>
#include <mutex>

namespace mcpd::node {

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
  // Every live node answers $SRV.PING.mcpd.<id> (discovery). "No responders" means the node is
  // gone now (NATS dropped its connection), ahead of its heartbeats timing out; a timeout says
  // nothing either way (its server may not have noticed yet, or the node is slow).
  membership_->set_probe([bus = bus_](const std::string& node) {
    auto r = bus->request("$SRV.PING.mcpd." + node, "", std::chrono::milliseconds(500));
    if (r.ok()) return Membership::Presence::there;
    return bus::is_no_responders(r.error()) ? Membership::Presence::gone : Membership::Presence::unknown;
  });
}

Cluster::~Cluster() { leave(); }

Status Cluster::start() {
  if (auto st = membership_->start(); !st.ok()) return st;
  if (opts_.jetstream == ClusterOptions::Mode::off) {
    spdlog::info("cluster: JetStream off by configuration (no replicated catalog, no cross-node session affinity)");
    return {};
  }
  if (!opts_.follow_catalog)
    spdlog::info("cluster: not following the catalog of record ([security] remote_registration = false: this node's "
                 "servers come from its config file)");
  auto err = try_jetstream();
  if (err.ok()) return {};
  if (opts_.jetstream == ClusterOptions::Mode::on) {
    // A JetStream cluster that has just come up may leave a first request unanswered while it
    // settles (routes, leaders): insist for a while before giving up.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!err.ok() && std::chrono::steady_clock::now() < deadline) {
      spdlog::warn("cluster: JetStream is not usable yet ({}); trying again", err.error().message);
      std::this_thread::sleep_for(std::chrono::seconds(1));
      err = try_jetstream();
    }
    if (!err.ok())
      return make_error(Errc::unavailable,
                        "cluster: JetStream is required ([cluster] jetstream = \"on\") but " + err.error().message);
    return {};
  }
  spdlog::info("cluster: JetStream not in use yet ({}); serving on events alone and retrying in the background",
               err.error().message);
  starter_ = std::thread([this] {
    for (;;) {
      {
        MutexLock lock(mu_);
        if (cv_.wait_for(mu_, std::chrono::seconds(2), [this]() MCPD_REQUIRES(mu_) { return stopping_; })) return;
      }
      if (try_jetstream().ok()) return;
    }
  });
  return {};
}

Status Cluster::try_jetstream() {
  if (!bus_->connected()) return make_error(Errc::unavailable, "NATS is not reachable");
  if (!catalog_ready_ && opts_.follow_catalog) {
    if (auto st = catalog_->start(); !st.ok()) return st;
    catalog_ready_ = true;
  }
  if (!affinity_ready_) {
    if (auto st = affinity_->start(); !st.ok()) return st;
    affinity_ready_ = true;
  }
  return {};
}

void Cluster::leave() {
  {
    MutexLock lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (starter_.joinable()) starter_.join();
  if (affinity_ready_ && bus_->connected()) affinity_->release_all();
  if (catalog_ready_) catalog_->stop();  // a live watch would hold up the connection's drain
  membership_->leave();
}

}  // namespace mcpd::node
