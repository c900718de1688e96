// Manager: the node's MCP servers (one session pool each), its status, start and shutdown.
#include "node/manager_impl.hpp"

#include "schema/schema.hpp"

#include <asio/post.hpp>
#include <spdlog/spdlog.h>

#include <future>
#include <thread>

namespace mcpd::node {

std::vector<EndpointStats> Manager::Impl::endpoint_stats() {
  const std::string& p = opts.subjects.prefix;
  const std::pair<const char*, std::string> names[] = {
      {"execute", p + ".*.execute"}, {"list-tools", p + ".*.list-tools"}, {"admin", p + ".admin.servers.*"}};
  std::vector<EndpointStats> out;
  for (int i = 0; i < ep_count; ++i) {
    EndpointStats e;
    e.name = names[i].first;
    e.subject = names[i].second;
    e.queue_group = opts.queue_group;
    e.requests = counters[i].requests;
    e.errors = counters[i].errors;
    e.processing_time = std::chrono::nanoseconds(counters[i].processing_ns.load());
    std::lock_guard lock(counters[i].mu);
    e.last_error = counters[i].last_error;
    out.push_back(std::move(e));
  }
  return out;
}

Json Manager::Impl::status() {
  Json servers = Json::object();
  std::lock_guard lock(mu);
  for (const auto& [name, w] : workers) {
    auto s = w.pool->stats();
    servers[name] = {{"revision", w.config.revision},  {"sessions_ready", s.sessions_ready},
                     {"sessions_starting", s.sessions_starting}, {"isolated_sessions", s.isolated_sessions},
                     {"in_flight", s.in_flight},         {"queued", s.queued},
                     {"calls", s.calls},                 {"restarts", s.restarts},
                     {"circuit", pool::to_string(s.circuit)}, {"last_error", s.last_error}};
  }
  return {{"node", opts.node_id}, {"in_flight", in_flight.load()}, {"servers", std::move(servers)}};
}

void Manager::Impl::start_worker(const catalog::ServerConfig& requested) {
  std::shared_ptr<pool::SessionPool> old;
  catalog::ServerConfig config;
  {
    std::lock_guard lock(mu);
    // The admin API, events and the catalog watch call this from different threads, in any
    // order: run what the catalog holds now (read under `mu`), so that an older definition
    // arriving late never replaces a newer one, and a deleted server is not started again.
    auto latest = store.get(requested.name);
    if (!latest) return;
    config = std::move(*latest);
    auto it = workers.find(config.name);
    if (it != workers.end() && catalog::same_definition(it->second.config, config)) {
      it->second.config = config;  // same pool; newer bookkeeping
      return;
    }
    if (it != workers.end()) {
      old = std::move(it->second.pool);
      workers.erase(it);
    }
    if (config.enabled) {
      auto po = pool_options(config, opts.pool_defaults);
      std::weak_ptr<Impl> weak = weak_from_this();
      po.on_isolated_closed = [weak, server = config.name](const std::string& session_id) {
        auto self = weak.lock();
        if (!self || !self->cluster || !self->cluster->affinity()) return;
        self->cluster->post([self, server, session_id] {
          if (auto* a = self->cluster->affinity()) a->release(server, session_id);
        });
      };
      auto p = pool::SessionPool::create(loop, std::move(po), session_factory(loop, config, opts.pool_defaults));
      p->start();
      workers.emplace(config.name, Worker{config, p});
    }
  }
  if (old) {
    spdlog::info("[{}] configuration changed (revision {}); replacing its sessions", config.name, config.revision);
    old->close();
  } else if (config.enabled) {
    spdlog::info("[{}] serving ({} {})", config.name, catalog::to_string(config.transport),
                 config.transport == catalog::Transport::stdio ? config.command : config.url);
  }
  if (!config.enabled) spdlog::info("[{}] disabled; not serving", config.name);
}

void Manager::Impl::stop_worker(const std::string& name, std::function<void()> done) {
  std::shared_ptr<pool::SessionPool> p;
  {
    std::lock_guard lock(mu);
    auto it = workers.find(name);
    // As in start_worker: a deletion that lost a race to a newer put leaves the server running.
    if (it != workers.end() && !store.get(name)) {
      p = std::move(it->second.pool);
      workers.erase(it);
    }
  }
  if (!p) {
    if (done) done();
    return;
  }
  spdlog::info("[{}] stopping", name);
  p->close(std::move(done));
}

void Manager::Impl::stop_all(std::function<void()> done, std::optional<std::chrono::milliseconds> drain) {
  std::vector<std::shared_ptr<pool::SessionPool>> pools;
  {
    std::lock_guard lock(mu);
    for (auto& [name, w] : workers) pools.push_back(std::move(w.pool));
    workers.clear();
  }
  if (pools.empty()) {
    if (done) done();
    return;
  }
  auto remaining = std::make_shared<std::atomic<std::size_t>>(pools.size());
  auto finish = std::make_shared<std::function<void()>>(std::move(done));
  for (auto& p : pools) {
    p->close(
        [remaining, finish] {
          if (--*remaining == 0 && *finish) (*finish)();
        },
        drain);
  }
}

std::shared_ptr<pool::SessionPool> Manager::Impl::find(const std::string& name) const {
  std::lock_guard lock(mu);
  auto it = workers.find(name);
  return it == workers.end() ? nullptr : it->second.pool;
}

Manager::Manager(ManagerOptions options, io::Loop& loop, catalog::Store& store, std::shared_ptr<bus::Connection> bus)
    : impl_(std::make_shared<Impl>(std::move(options), loop, store, std::move(bus))) {}

Manager::~Manager() {
  if (impl_->cluster) impl_->cluster->leave();
  impl_->node_sub.reset();
  impl_->discovery.reset();
  impl_->requests_sub.reset();
  impl_->events_sub.reset();
}

nlohmann::json Manager::status() const { return impl_->status(); }

std::optional<Error> Manager::start() {
  if (auto err = schema::self_check()) return err;
  auto configs = impl_->store.list();
  for (const auto& c : configs) impl_->start_worker(c);
  spdlog::info("node {}: {} servers in the catalog", impl_->opts.node_id, configs.size());
  std::weak_ptr<Impl> weak = impl_;
  auto events = impl_->bus->subscribe(impl_->opts.subjects.servers_events(), [weak](bus::Message m) {
    if (auto self = weak.lock()) self->on_event(std::move(m));
  });
  if (!events.ok()) return events.error();
  impl_->events_sub = std::move(events).value();
  auto requests = impl_->bus->subscribe(impl_->opts.subjects.all_requests(), impl_->opts.queue_group,
                                        [weak](bus::Message m) {
                                          if (auto self = weak.lock()) self->receive(std::move(m));
                                        });
  if (!requests.ok()) return requests.error();
  impl_->requests_sub = std::move(requests).value();
  ReplicatedCatalog::Hooks hooks;
  hooks.changed = [weak](const catalog::ServerConfig& c) {
    if (auto self = weak.lock()) self->start_worker(c);
  };
  hooks.removed = [weak](const std::string& name) {
    if (auto self = weak.lock()) self->stop_worker(name, {});
  };
  impl_->cluster = std::make_unique<Cluster>(impl_->opts.cluster, impl_->bus, impl_->store, impl_->opts.subjects,
                                             impl_->opts.node_id, std::move(hooks));
  if (auto err = impl_->cluster->start()) return err;
  auto forwarded = impl_->bus->subscribe(impl_->opts.subjects.node_requests(impl_->opts.node_id), [weak](bus::Message m) {
    if (auto self = weak.lock()) self->handle_forwarded(std::move(m));
  });
  if (!forwarded.ok()) return forwarded.error();
  impl_->node_sub = std::move(forwarded).value();
  DiscoveryInfo info;
  info.id = impl_->opts.node_id;
  info.version = impl_->opts.version;
  info.description = "MCP session pools over NATS: " + impl_->opts.subjects.prefix + ".<server>.execute";
  info.endpoints = [weak] { auto self = weak.lock(); return self ? self->endpoint_stats() : std::vector<EndpointStats>{}; };
  info.data = [weak] { auto self = weak.lock(); return self ? self->status() : Json::object(); };
  impl_->discovery = std::make_unique<Discovery>(std::move(info));
  if (auto err = impl_->discovery->start(*impl_->bus)) return err;
  return std::nullopt;
}

void Manager::start_worker(const catalog::ServerConfig& config) { impl_->start_worker(config); }

void Manager::announce(const catalog::ServerConfig& config) {
  if (auto* c = impl_->cluster ? impl_->cluster->catalog() : nullptr) {
    if (auto r = c->put(config); !r.ok())
      spdlog::warn("[{}] could not write to the cluster catalog: {}", config.name, r.error().message);
    return;
  }
  impl_->publish_event(impl_->opts.subjects.servers_created(), catalog::to_json(config));
}
void Manager::stop_worker(const std::string& name, std::function<void()> done) { impl_->stop_worker(name, std::move(done)); }
void Manager::stop_all(std::function<void()> done) { impl_->stop_all(std::move(done)); }

void Manager::shutdown(std::chrono::milliseconds drain_timeout) {
  const auto deadline = Clock::now() + drain_timeout;
  if (impl_->requests_sub) {
    if (impl_->bus->connected()) {
      // Stop taking new requests; the queue group hands them to the other nodes.
      impl_->requests_sub->drain(drain_timeout);
      impl_->requests_sub->wait_drained(drain_timeout);
    } else {
      impl_->requests_sub.reset();  // nothing can arrive anyway; do not wait for a drain
    }
  }
  // Hand this node's sessions over: once their ownerships are released, other nodes claim them
  // instead of forwarding here. Calls already forwarded are still taken for a moment (they are
  // on their way), then the node subscription drains too. Pools stay open until in-flight calls end.
  if (impl_->node_sub) {
    if (impl_->bus->connected()) {
      if (auto* affinity = impl_->cluster ? impl_->cluster->affinity() : nullptr) affinity->release_all();
      const auto grace = std::min(std::chrono::milliseconds(250),
                                  std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
      if (grace.count() > 0) std::this_thread::sleep_for(grace);
      const auto left = std::max(std::chrono::milliseconds(1),
                                 std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
      impl_->node_sub->drain(left);
      impl_->node_sub->wait_drained(left);
    } else {
      impl_->node_sub.reset();
    }
  }
  while (impl_->in_flight.load() > 0 && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  if (impl_->in_flight.load() > 0)
    spdlog::warn("drain timeout: {} requests still in flight are abandoned", impl_->in_flight.load());
  impl_->events_sub.reset();
  std::promise<void> stopped;
  auto future = stopped.get_future();
  // The drain budget is shared: pools get what is left of it, not a fresh one each.
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  impl_->stop_all([&stopped] { stopped.set_value(); }, std::max(left, std::chrono::milliseconds(0)));
  future.wait();
  // Owned sessions are released so other nodes take them over at once; heartbeats say goodbye.
  if (impl_->cluster) impl_->cluster->leave();
  impl_->node_sub.reset();
  impl_->discovery.reset();
  impl_->requests_sub.reset();
}

ManagerStats Manager::stats() const {
  ManagerStats s;
  {
    std::lock_guard lock(impl_->mu);
    s.servers = impl_->workers.size();
  }
  s.in_flight = impl_->in_flight.load();
  s.requests = impl_->requests.load();
  s.errors = impl_->errors.load();
  return s;
}

std::vector<std::string> Manager::running_servers() const {
  std::vector<std::string> names;
  std::lock_guard lock(impl_->mu);
  for (const auto& [name, w] : impl_->workers) names.push_back(name);
  return names;
}

std::shared_ptr<pool::SessionPool> Manager::find_pool(const std::string& name) const { return impl_->find(name); }

}  // namespace mcpd::node
