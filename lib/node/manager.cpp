// Manager: wiring only. Builds the Node, registers its endpoints, subscribes, joins the
// cluster, and takes it all down in order.
#include "node/manager.hpp"

#include "common/version.hpp"
#include "node/internal/handlers.hpp"
#include "node/internal/node.hpp"
#include "schema/schema.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <future>
#include <thread>

namespace mcpd::node {

using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

Manager::Manager(ManagerOptions options, io::Loop& loop, catalog::Store& store, std::shared_ptr<bus::Connection> bus) {
  if (options.version.empty()) options.version = kVersion;
  node_ = std::make_shared<Node>(std::move(options), loop, store, std::move(bus));
}

Manager::~Manager() {
  auto& n = *node_;
  n.blocking.stop();  // queued blocking work finishes; nothing new is taken
  if (n.cluster) n.cluster->leave();
  n.catalog.stop();
  n.node_sub.reset();
  n.discovery.reset();
  n.queue_sub.reset();
}

Status Manager::start() {
  auto& n = *node_;
  if (auto st = schema::self_check(); !st.ok()) return st;

  // The request subjects: one registration per family (internal/handlers.hpp).
  add_execute(node_);
  add_list_tools(node_);
  add_admin(node_);
  add_forwarded(node_);
  n.table.refuse("servers.*", n.opts.subjects.servers_created() + " and " + n.opts.subjects.servers_deleted() +
                                  " are event subjects: publish to them without expecting a reply (to register a "
                                  "server, request " + n.opts.subjects.admin("put") + ")");
  n.table.ignore("nodes.>");  // node-to-node traffic: heartbeats, and calls forwarded to a node's own subject

  auto configs = n.store.list();
  if (!configs.ok()) return configs.error();
  for (const auto& c : configs.value())
    if (auto st = n.registry.sync(c.name); !st.ok()) return st;
  spdlog::info("node {}: {} servers in the catalog", n.opts.node_id, configs.value().size());

  if (auto st = n.catalog.start(); !st.ok()) return st;
  std::weak_ptr<Node> weak = node_;
  auto requests = n.bus->subscribe(n.opts.subjects.all_requests(), n.opts.queue_group, [weak](bus::Message m) {
    if (auto self = weak.lock()) self->table.dispatch(Inbound::from(std::move(m)), Via::queue);
  });
  if (!requests.ok()) return requests.error();
  n.queue_sub = std::move(requests).value();

  ReplicatedCatalog::Hooks hooks;
  hooks.changed = [weak](const std::string& name) {
    auto self = weak.lock();
    if (!self) return;
    if (auto st = self->registry.sync(name); !st.ok()) spdlog::error("[{}] {}", name, st.error().message);
  };
  hooks.removed = [weak](const std::string& name) {
    if (auto self = weak.lock()) self->registry.stop_if_deleted(name);
  };
  n.cluster = std::make_unique<Cluster>(n.opts.cluster, n.bus, n.store, n.opts.subjects, n.opts.node_id, std::move(hooks));
  if (auto st = n.cluster->start(); !st.ok()) return st;

  auto forwarded = n.bus->subscribe(n.opts.subjects.node_requests(n.opts.node_id), [weak](bus::Message m) {
    if (auto self = weak.lock()) self->table.dispatch(Inbound::from(std::move(m)), Via::node);
  });
  if (!forwarded.ok()) return forwarded.error();
  n.node_sub = std::move(forwarded).value();

  DiscoveryInfo info;
  info.id = n.opts.node_id;
  info.version = n.opts.version;
  info.description = "MCP session pools over NATS: " + n.opts.subjects.prefix + ".<server>.execute";
  info.endpoints = [weak] {
    auto self = weak.lock();
    return self ? self->table.stats() : std::vector<EndpointStats>{};
  };
  info.data = [weak] {
    auto self = weak.lock();
    if (!self) return Json::object();
    return Json{{"node", self->opts.node_id}, {"in_flight", self->table.in_flight()}, {"servers", self->registry.status()}};
  };
  n.discovery = std::make_unique<Discovery>(std::move(info));
  return n.discovery->start(*n.bus);
}

void Manager::announce(const catalog::ServerConfig& config) { node_->catalog.announce(config); }

void Manager::shutdown(std::chrono::milliseconds drain_timeout) {
  auto& n = *node_;
  const auto deadline = Clock::now() + drain_timeout;
  if (n.queue_sub) {
    if (n.bus->connected()) {
      // Stop taking new requests; the queue group hands them to the other nodes.
      n.queue_sub->drain(drain_timeout);
      if (!n.queue_sub->wait_drained(drain_timeout)) spdlog::warn("the request subscription did not drain in time");
    } else {
      n.queue_sub.reset();  // nothing can arrive anyway; do not wait for a drain
    }
  }
  // Hand this node's sessions over: once their ownerships are released, other nodes claim them
  // instead of forwarding here. Calls already forwarded are still taken for a moment (they are
  // on their way), then the node subscription drains too. Pools stay open until in-flight calls end.
  if (n.node_sub) {
    if (n.bus->connected()) {
      if (auto* affinity = n.affinity()) affinity->release_all();
      const auto grace = std::min(std::chrono::milliseconds(250),
                                  std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
      if (grace.count() > 0) std::this_thread::sleep_for(grace);
      const auto left = std::max(std::chrono::milliseconds(1),
                                 std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
      n.node_sub->drain(left);
      if (!n.node_sub->wait_drained(left)) spdlog::warn("the forwarded-call subscription did not drain in time");
    } else {
      n.node_sub.reset();
    }
  }
  while (n.table.in_flight() > 0 && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  if (n.table.in_flight() > 0)
    spdlog::warn("drain timeout: {} requests still in flight are abandoned", n.table.in_flight());
  n.catalog.stop();
  std::promise<void> stopped;
  auto future = stopped.get_future();
  // The drain budget is shared: pools get what is left of it, not a fresh one each.
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  n.registry.stop_all([&stopped] { stopped.set_value(); }, std::max(left, std::chrono::milliseconds(0)));
  future.wait();
  n.blocking.stop();
  // Owned sessions are released so other nodes take them over at once; heartbeats say goodbye.
  if (n.cluster) n.cluster->leave();
  n.node_sub.reset();
  n.discovery.reset();
  n.queue_sub.reset();
}

ManagerStats Manager::stats() const {
  return ManagerStats{node_->registry.size(), node_->table.in_flight(), node_->table.requests(), node_->table.errors()};
}

nlohmann::json Manager::status() const {
  return Json{{"node", node_->opts.node_id}, {"in_flight", node_->table.in_flight()}, {"servers", node_->registry.status()}};
}

std::vector<std::string> Manager::running_servers() const { return node_->registry.names(); }

std::shared_ptr<pool::SessionPool> Manager::find_pool(const std::string& name) const { return node_->registry.find(name); }

}  // namespace mcpd::node
