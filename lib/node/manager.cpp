// Manager: wiring only. Builds the Node, registers its endpoints, subscribes, joins the
// cluster, and takes it all down in order.
#include "node/manager.hpp"

#include "common/version.hpp"
#include "node/internal/handlers.hpp"
#include "node/builtin/mcpd_server.hpp"
#include "node/internal/node.hpp"
#include "schema/schema.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <future>
#include <thread>

namespace mcpd::node {

using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

Manager::Manager(ManagerOptions options, io::Loop& loop, catalog::Store& store, std::shared_ptr<bus::Connection> bus) {
  if (options.version.empty()) options.version = kVersion;
  options.pool_defaults.json_max_depth = options.json_max_depth;  // one setting for sessions too
  auto builtins = std::make_shared<BuiltinServers>();
  options.pool_defaults.builtins = builtins;
  node_ = std::make_shared<Node>(std::move(options), loop, store, std::move(bus));
  builtins->add("mcpd", [weak = std::weak_ptr<Node>(node_)] { return make_mcpd_server(cluster_view(weak)).serve(); });
}

Manager::~Manager() {
  auto& n = *node_;
  n.catalog.stop();   // no more events; those queued are applied
  n.tasks->stop();
  n.blocking.stop();  // queued blocking work finishes; nothing new is taken
  if (n.cluster) n.cluster->leave();
  n.node_sub.reset();
  n.discovery.reset();
  n.queue_sub.reset();
}

namespace {

// The request subjects: one registration per family (internal/handlers.hpp).
void register_endpoints(const std::shared_ptr<Node>& node) {
  add_execute(node);
  add_list_tools(node);
  add_server_requests(node);
  add_admin(node);
  add_forwarded(node);
  add_tasks(node);
  add_oauth_handover(node);
  const Subjects& s = node->opts.subjects;
  node->table.refuse("servers.*", s.servers_created() + " and " + s.servers_deleted() +
                                      " are event subjects: publish to them without expecting a reply (to register "
                                      "a server, request " + s.admin("put") + ")");
  node->table.ignore("nodes.>");  // node-to-node traffic: heartbeats, and calls forwarded to a node's own subject
  // The policy stage: with remote_registration = false the catalog does not change from the bus.
  // Otherwise there is nothing to check, and no gate on the request path.
  if (node->opts.security.remote_registration) return;
  std::weak_ptr<Node> weak = node;
  node->table.set_gate([weak](const EndpointSpec& e, const Request&) -> Status {
    auto self = weak.lock();
    if (!self || (e.pattern != "admin.servers.put" && e.pattern != "admin.servers.delete")) return {};
    return self->admission.may_change("registering or removing a server through " + self->opts.subjects.admin(e.pattern.substr(14)));
  });
}

// Requests from callers (the queue group) and calls other nodes forward here (this node only).
Status subscribe_requests(const std::shared_ptr<Node>& node) {
  std::weak_ptr<Node> weak = node;
  auto subscribe = [&](const std::string& subject, const std::string& queue, Via via) {
    return node->bus->subscribe(subject, queue, [weak, via](bus::Message m) {
      if (auto self = weak.lock()) self->table.dispatch(Inbound::from(std::move(m)), via);
    });
  };
  auto requests = subscribe(node->opts.subjects.all_requests(), node->opts.queue_group, Via::queue);
  if (!requests.ok()) return requests.error();
  node->queue_sub = std::move(requests).value();
  // The cancel of a task this node runs comes as a plain publish (no reply): taken here.
  const std::string task_cancel = node->opts.subjects.node_task(node->opts.node_id, "cancel");
  auto forwarded = node->bus->subscribe(node->opts.subjects.node_requests(node->opts.node_id), "",
                                        [weak, task_cancel](bus::Message m) {
                                          auto self = weak.lock();
                                          if (!self) return;
                                          if (m.subject() == task_cancel) {
                                            auto body = Json::parse(m.data(), nullptr, false);
                                            if (body.is_object() && body.contains("task_id") && body["task_id"].is_string())
                                              self->tasks->cancel_here(body["task_id"].get<std::string>());
                                            return;
                                          }
                                          self->table.dispatch(Inbound::from(std::move(m)), Via::node);
                                        });
  if (!forwarded.ok()) return forwarded.error();
  node->node_sub = std::move(forwarded).value();
  return {};
}

// Heartbeats, and — with JetStream — the catalog of record (its watch drives the registry)
// and session affinity.
Status join_cluster(const std::shared_ptr<Node>& node) {
  std::weak_ptr<Node> weak = node;
  ReplicatedCatalog::Hooks hooks;
  hooks.changed = [weak](const std::string& name) {
    auto self = weak.lock();
    if (!self) return;
    if (auto st = self->registry.sync(name); !st.ok()) spdlog::error("[{}] {}", name, st.error().message);
  };
  hooks.removed = [weak](const std::string& name) {
    if (auto self = weak.lock()) self->registry.stop_if_deleted(name);
  };
  const auto& o = node->opts;
  ClusterOptions cluster = o.cluster;
  // A node whose catalog comes from its config file only does not follow the bucket.
  cluster.follow_catalog = cluster.follow_catalog && o.security.remote_registration;
  node->cluster = std::make_unique<Cluster>(cluster, node->bus, node->store, o.subjects, o.node_id, std::move(hooks));
  return node->cluster->start();
}

// Tasks live in JetStream when the cluster uses it (any node answers for them), else in a
// table of this node's SQLite file.
Status start_tasks(const std::shared_ptr<Node>& node) {
  std::unique_ptr<tasks::TaskStore> store;
  if (node->affinity()) {
    tasks::KvStoreOptions kv;
    kv.bucket = node->opts.subjects.prefix + "-tasks";
    kv.replicas = node->opts.cluster.replicas;
    kv.max_ttl = node->opts.tasks.max_ttl;
    // Every node of a JetStream cluster must share the bucket (a node on its own SQLite would not
    // see the others' tasks): nodes starting together race to create it, and a stream that has
    // just been created may not answer at once, so insist for a while.
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    for (;;) {
      auto opened = tasks::open_kv_store(*node->bus, kv);
      if (opened.ok()) {
        store = std::move(opened).value();
        break;
      }
      if (Clock::now() >= deadline) {
        if (node->opts.cluster.jetstream == ClusterOptions::Mode::on)
          return make_error(Errc::unavailable, "tasks: the JetStream bucket " + kv.bucket + " is not usable: " +
                                                   opened.error().message);
        spdlog::warn("tasks: the JetStream bucket is not usable ({}); keeping tasks in SQLite", opened.error().message);
        break;
      }
      spdlog::warn("tasks: the JetStream bucket {} is not usable yet ({}); trying again", kv.bucket,
                   opened.error().message);
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
  }
  if (!store) {
    auto opened = tasks::open_sqlite_store(node->store.path(), node->bus->max_payload() > 0 ? node->bus->max_payload() : 1 << 20);
    if (!opened.ok()) return opened.error();
    store = std::move(opened).value();
  }
  return node->tasks->start(std::move(store));
}

Status start_discovery(const std::shared_ptr<Node>& node) {
  std::weak_ptr<Node> weak = node;
  DiscoveryInfo info;
  info.id = node->opts.node_id;
  info.version = node->opts.version;
  info.description = "MCP session pools over NATS: " + node->opts.subjects.prefix + ".<server>.execute";
  info.endpoints = [weak] {
    auto self = weak.lock();
    return self ? self->table.stats() : std::vector<EndpointStats>{};
  };
  info.data = [weak] {
    auto self = weak.lock();
    return self ? self->stats_data() : Json::object();
  };
  node->discovery = std::make_unique<Discovery>(std::move(info));
  return node->discovery->start(*node->bus);
}

}  // namespace

Status Manager::start() {
  if (auto st = schema::self_check(); !st.ok()) return st;
  register_endpoints(node_);
  auto configs = node_->store.list();
  if (!configs.ok()) return configs.error();
  for (const auto& c : configs.value())
    if (auto st = node_->registry.sync(c.name); !st.ok()) return st;
  spdlog::info("node {}: {} servers in the catalog", node_->opts.node_id, configs.value().size());
  if (auto st = node_->catalog.start(); !st.ok()) return st;
  if (auto st = subscribe_requests(node_); !st.ok()) return st;
  if (auto st = join_cluster(node_); !st.ok()) return st;
  if (auto st = start_tasks(node_); !st.ok()) return st;
  if (auto st = start_discovery(node_); !st.ok()) return st;
  node_->phase = Node::Phase::serving;
  return {};
}

void Manager::announce(const catalog::ServerConfig& config) { node_->catalog.announce(config); }

ReloadSummary Manager::reload_servers(const std::vector<catalog::ServerConfig>& servers) {
  auto& n = *node_;
  ReloadSummary out;
  const auto before = n.admission.own_names();
  n.admission.set_own(servers);  // first: the registry runs them as written from now on
  for (const auto& s : servers) {
    auto existing = n.store.get(s.name);
    if (!existing.ok()) {
      out.failed.push_back(s.name + ": " + existing.error().message);
      continue;
    }
    if (existing.value() && catalog::same_definition(*existing.value(), s)) {
      out.unchanged.push_back(s.name);
      continue;
    }
    const bool was_own = std::find(before.begin(), before.end(), s.name) != before.end();
    if (auto stored = n.catalog.put(s); !stored.ok()) out.failed.push_back(s.name + ": " + stored.error().message);
    else (was_own || existing.value() ? out.changed : out.added).push_back(s.name);
  }
  for (const auto& name : before) {
    if (std::any_of(servers.begin(), servers.end(), [&](const catalog::ServerConfig& s) { return s.name == name; }))
      continue;
    auto removed = n.catalog.remove(name);
    if (!removed.ok()) out.failed.push_back(name + ": " + removed.error().message);
    else if (removed.value()) out.removed.push_back(name);
  }
  return out;
}

void Manager::shutdown(std::chrono::milliseconds drain_timeout) {
  auto& n = *node_;
  n.phase = Node::Phase::draining;
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
  n.tasks->stop();  // tasks running here fail (their records say why); result waiters hear now
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
  return node_->stats_data();
}

std::string Manager::metrics() const { return node_->metrics(); }

Readiness Manager::readiness() const { return node_->readiness(); }

std::vector<std::string> Manager::running_servers() const { return node_->registry.names(); }

std::shared_ptr<pool::SessionPool> Manager::find_pool(const std::string& name) const { return node_->registry.find(name); }

}  // namespace mcpd::node
