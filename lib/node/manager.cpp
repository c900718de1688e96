#include "node/manager.hpp"

#include "node/cluster.hpp"
#include "node/discovery.hpp"
#include "node/replies.hpp"
#include "schema/schema.hpp"

#include <asio/post.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <future>
#include <array>
#include <thread>

namespace mcpd::node {

using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

struct Manager::Impl : std::enable_shared_from_this<Impl> {
  struct Worker {
    catalog::ServerConfig config;
    std::shared_ptr<pool::SessionPool> pool;
  };

  Impl(ManagerOptions o, io::Loop& l, catalog::Store& s, std::shared_ptr<bus::Connection> b)
      : opts(std::move(o)), loop(l), store(s), bus(std::move(b)) {}

  ManagerOptions opts;
  io::Loop& loop;
  catalog::Store& store;
  std::shared_ptr<bus::Connection> bus;
  std::unique_ptr<bus::Subscription> requests_sub, events_sub;

  mutable std::mutex mu;
  std::map<std::string, Worker> workers;  // guarded by mu

  std::atomic<int> in_flight{0};
  std::atomic<std::uint64_t> requests{0}, errors{0};

  // Per-endpoint counters for $SRV.STATS.
  enum Endpoint { ep_execute, ep_list_tools, ep_admin, ep_count };
  struct Counters {
    std::atomic<std::uint64_t> requests{0}, errors{0};
    std::atomic<std::int64_t> processing_ns{0};
    std::mutex mu;
    std::string last_error;
  };
  std::array<Counters, ep_count> counters;

  // Where and when a request came in: its reply subject, its endpoint, its arrival.
  struct Ctx {
    std::string subject;
    Endpoint endpoint;
    Clock::time_point start;
  };

  static Endpoint endpoint_of(RouteKind k) {
    switch (k) {
      case RouteKind::execute: return ep_execute;
      case RouteKind::list_tools: return ep_list_tools;
      default: return ep_admin;
    }
  }

  void count(const Ctx& ctx, const Reply* error) {
    auto& c = counters[ctx.endpoint];
    ++c.requests;
    c.processing_ns += std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - ctx.start).count();
    if (error) {
      ++c.errors;
      std::lock_guard lock(c.mu);
      for (const auto& [k, v] : error->headers)
        if (k == "Nats-Service-Error") c.last_error = v;
    }
  }

  std::vector<EndpointStats> endpoint_stats() {
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

  // What this node runs: per server, its sessions and load (the data of $SRV.STATS).
  Json status() {
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

  std::unique_ptr<Discovery> discovery;
  std::unique_ptr<Cluster> cluster;
  std::unique_ptr<bus::Subscription> node_sub;  // calls forwarded to this node (session owner)
  const std::string nodes_prefix = opts.subjects.prefix + ".nodes.";

  // --- workers -------------------------------------------------------------------------------
  void start_worker(const catalog::ServerConfig& requested) {
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

  void stop_worker(const std::string& name, std::function<void()> done) {
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

  void stop_all(std::function<void()> done, std::optional<std::chrono::milliseconds> drain = std::nullopt) {
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

  std::shared_ptr<pool::SessionPool> find(const std::string& name) const {
    std::lock_guard lock(mu);
    auto it = workers.find(name);
    return it == workers.end() ? nullptr : it->second.pool;
  }

  // --- requests ------------------------------------------------------------------------------
  // On a NATS delivery thread: take the message and return at once.
  void receive(bus::Message msg) {
    if (msg.reply().empty()) return;  // a publish, not a request: nothing to answer
    // Node-to-node subjects also match the queue subscription; their own subscribers answer.
    if (msg.subject().starts_with(nodes_prefix)) return;
    ++in_flight;
    ++requests;
    // Small tool calls are handled right here (parsing is a few µs and the call itself is
    // handed to the pool): one thread hop less. Admin requests touch SQLite and big bodies take
    // a while to parse: those go to the event loop, so this delivery thread stays free.
    constexpr std::size_t kInlineBytes = 64 * 1024;
    const std::string_view subject = msg.subject();
    if (msg.data().size() <= kInlineBytes && (subject.ends_with(".execute") || subject.ends_with(".list-tools"))) {
      handle(msg);
      return;
    }
    auto m = std::make_shared<bus::Message>(std::move(msg));
    asio::post(loop.context(), [self = shared_from_this(), m] { self->handle(*m); });
  }

  // Publishes the answer to a request and closes its accounting. A reply NATS would refuse
  // (over max_payload) becomes a too_large error, so the caller is never left waiting.
  void answer(const Ctx& reply_to, const Reply& reply) {
    constexpr std::size_t kHeaderRoom = 4096;
    const auto limit = bus->max_payload();
    if (limit > 0 && reply.body.size() + kHeaderRoom > static_cast<std::size_t>(limit)) {
      auto too_large = error_reply(make_error(
          Errc::too_large, "the reply is " + std::to_string(reply.body.size()) + " bytes, more than NATS accepts (max_payload " +
                               std::to_string(limit) + "); ask the tool for less, or raise max_payload on the NATS servers"));
      ++errors;
      bus->respond(reply_to.subject, too_large.body, too_large.headers);
      count(reply_to, &too_large);
      --in_flight;
      return;
    }
    if (!reply.headers.empty()) ++errors;
    if (!bus->respond(reply_to.subject, reply.body, reply.headers))
      spdlog::warn("could not publish a reply to {} ({} bytes)", reply_to.subject, reply.body.size());
    count(reply_to, reply.headers.empty() ? nullptr : &reply);
    --in_flight;
  }

  // A call forwarded by another node to this one, the owner of its session:
  // <prefix>.nodes.<this node>.<server>.execute. Answered here, straight to the caller.
  void handle_forwarded(bus::Message msg) {
    if (msg.reply().empty()) return;
    ++in_flight;
    ++requests;
    const std::string head = nodes_prefix + opts.node_id + ".";
    std::string_view rest = msg.subject();
    rest.remove_prefix(std::min(rest.size(), head.size()));
    Route route;
    if (rest.ends_with(".execute")) {
      route.kind = RouteKind::execute;
      route.server = std::string(rest.substr(0, rest.size() - 8));
    }
    auto m = std::make_shared<bus::Message>(std::move(msg));
    asio::post(loop.context(), [self = shared_from_this(), m, route] { self->handle(*m, route, true); });
  }

  void handle(const bus::Message& msg) { handle(msg, parse_route(opts.subjects, msg.subject()), false); }

  void handle(const bus::Message& msg, Route route, bool forwarded) {
    const Ctx reply_to{std::string(msg.reply()), endpoint_of(route.kind), Clock::now()};
    if (route.kind == RouteKind::event) {  // events are published, never requested
      answer(reply_to, error_reply(make_error(Errc::invalid_request,
                                              std::string(msg.subject()) + " is an event subject: publish to it without " +
                                                  "expecting a reply (to register a server, request " +
                                                  opts.subjects.admin("put") + ")")));
      return;
    }
    if (route.kind == RouteKind::invalid) {
      answer(reply_to, error_reply(make_error(Errc::invalid_request, route.problem)));
      return;
    }
    if (msg.data().size() > opts.max_request_bytes) {
      answer(reply_to, error_reply(make_error(Errc::too_large, "request body is " + std::to_string(msg.data().size()) +
                                                                   " bytes; this node accepts at most " +
                                                                   std::to_string(opts.max_request_bytes))));
      return;
    }
    Json body;
    if (auto err = parse_body(msg.data(), route.kind, body)) {
      Json extra = route.kind == RouteKind::list_tools ? Json{{"tools", Json::array()}} : Json::object();
      answer(reply_to, error_reply(*err, extra));
      return;
    }
    switch (route.kind) {
      case RouteKind::execute: return execute(route.server, std::move(body), reply_to, forwarded);
      case RouteKind::list_tools: return list_tools(route.server, reply_to);
      case RouteKind::admin_put: return answer(reply_to, admin_put(body));
      case RouteKind::admin_delete: return answer(reply_to, admin_delete(body));
      case RouteKind::admin_get: return answer(reply_to, admin_get(body));
      case RouteKind::admin_list: return answer(reply_to, admin_list());
      default:
        answer(reply_to, error_reply(make_error(Errc::invalid_request, forwarded ? "not a forwarded call" : "unhandled route")));
    }
  }

  // Parses and validates a request body against its schema. An empty body means {}.
  std::optional<Error> parse_body(std::string_view data, RouteKind kind, Json& out) {
    if (data.find_first_not_of(" \t\r\n") == std::string_view::npos) {
      out = Json::object();
    } else {
      try {
        out = Json::parse(data);
      } catch (const Json::parse_error& e) {
        return make_error(Errc::invalid_request, std::string("request body is not valid JSON: ") + e.what());
      }
    }
    schema::Payload payload;
    switch (kind) {
      case RouteKind::execute: payload = schema::Payload::tool_request; break;
      case RouteKind::list_tools: payload = schema::Payload::tool_list_request; break;
      case RouteKind::admin_put: payload = schema::Payload::server; break;
      case RouteKind::admin_delete:
      case RouteKind::admin_get: payload = schema::Payload::admin_name_request; break;
      default: payload = schema::Payload::admin_list_request; break;
    }
    if (auto err = schema::validate(payload, out)) {
      Error e = *err;
      e.message = "invalid " + std::string(schema::name(payload)) + ": " + e.message;
      return e;
    }
    return std::nullopt;
  }

  Error unknown_server(const std::string& name) const {
    std::string why;
    if (!catalog::valid_server_name(name, &why)) return make_error(Errc::invalid_request, why);
    return make_error(Errc::invalid_request, "no MCP server named '" + name + "' is registered on this cluster" +
                                                 " (list them with: mcpctl server ls)");
  }

  void execute(const std::string& server, Json body, const Ctx& reply_to, bool forwarded = false,
               std::optional<Affinity::Decision> settled = std::nullopt, bool fetched = false) {
    std::optional<std::string> request_id;
    if (auto it = body.find("request_id"); it != body.end() && it->is_string()) request_id = it->get<std::string>();
    Json extra = Json::object();
    if (request_id) extra["request_id"] = *request_id;
    auto p = find(server);
    if (!p) {
      if (cluster && cluster->catalog() && !fetched) {
        // Perhaps created on another node a moment ago: ask the catalog of record (blocking,
        // so off this thread) before saying it does not exist.
        cluster->post([self = shared_from_this(), server, body = std::move(body), reply_to, forwarded, settled]() mutable {
          self->cluster->catalog()->fetch(server);
          self->execute(server, std::move(body), reply_to, forwarded, settled, true);
        });
        return;
      }
      answer(reply_to, error_reply(unknown_server(server), extra));
      return;
    }
    const bool affine = body.contains("session_id") && p->options().isolate_by_session_id;
    if (affine && !settled && cluster && cluster->affinity()) {
      // Which node owns this session: key-value round trips, so off this thread. A forwarded
      // call asks too: that renews this node's ownership, and a node restarted under the same
      // id learns that the session's state is gone (local_reset: the reply says session_reset).
      cluster->post([self = shared_from_this(), server, body = std::move(body), reply_to, extra, forwarded]() mutable {
        auto route = self->cluster->affinity()->resolve(server, body["session_id"].get<std::string>());
        if (!route.ok()) {
          self->answer(reply_to, error_reply(route.error(), extra));
        } else if (route->decision == Affinity::Decision::forward && !forwarded) {
          self->forward(route->owner, server, body, reply_to);
        } else {  // a forwarded call is never forwarded again (no ping-pong while ownership moves)
          const auto decision =
              route->decision == Affinity::Decision::forward ? Affinity::Decision::local : route->decision;
          self->execute(server, std::move(body), reply_to, forwarded, decision);
        }
      });
      return;
    }
    pool::CallRequest req;
    req.session_reset = settled == Affinity::Decision::local_reset;
    req.tool = body["tool"].get<std::string>();
    if (auto a = body.find("args"); a != body.end() && a->is_object()) req.arguments = std::move(*a);
    if (auto s = body.find("session_id"); s != body.end() && s->is_string()) req.session_id = s->get<std::string>();
    if (auto t = body.find("timeout_ms"); t != body.end() && t->is_number_integer())
      req.timeout = std::chrono::milliseconds(t->get<std::int64_t>());
    const ReplyFormat format = body.value("format", std::string("compat")) == "mcp" ? ReplyFormat::mcp : ReplyFormat::compat;
    p->call(std::move(req), [self = shared_from_this(), reply_to, format, request_id, extra](Result<pool::CallResult> r) {
      if (r.ok()) {
        self->answer(reply_to, tool_reply(r.value().result, format, r.value().session_reset, request_id));
      } else {
        self->answer(reply_to, error_reply(r.error(), extra));
      }
    });
  }

  // Hands a call to the node that owns its session, with the caller's reply subject: the
  // owner answers the caller directly.
  void forward(const std::string& owner, const std::string& server, const Json& body, const Ctx& reply_to) {
    if (auto err = bus->publish(opts.subjects.node_execute(owner, server), body.dump(), {}, reply_to.subject)) {
      answer(reply_to, error_reply(make_error(Errc::unavailable, "cannot forward to node " + owner + ", which owns the session: " +
                                                                   err->message)));
      return;
    }
    count(reply_to, nullptr);
    --in_flight;
  }

  void list_tools(const std::string& server, const Ctx& reply_to) {
    auto p = find(server);
    if (!p) {
      answer(reply_to, error_reply(unknown_server(server), Json{{"tools", Json::array()}}));
      return;
    }
    p->list_tools([self = shared_from_this(), reply_to](Result<mcp::Tools> r) {
      if (!r.ok()) {
        self->answer(reply_to, error_reply(r.error(), Json{{"tools", Json::array()}}));
        return;
      }
      Json tools = Json::array();
      for (const auto& t : *r.value()) tools.push_back(t);
      self->answer(reply_to, Reply{Json{{"tools", std::move(tools)}}.dump(-1, ' ', false, Json::error_handler_t::replace), {}});
    });
  }

  // --- admin ---------------------------------------------------------------------------------
  static Reply ok(Json body) { return Reply{body.dump(-1, ' ', false, Json::error_handler_t::replace), {}}; }

  void publish_event(const std::string& subject, const Json& event) {
    if (auto err = bus->publish(subject, event.dump()))
      spdlog::warn("could not publish {} ({}); other nodes learn of this change when they next sync", subject,
                   err->message);
  }

  Reply admin_put(const Json& body) {
    auto parsed = catalog::parse_server_config(body);
    if (!parsed.ok()) return error_reply(parsed.error());
    auto* replicated = cluster ? cluster->catalog() : nullptr;
    auto stored = replicated ? replicated->put(parsed.value()) : store.put(parsed.value());
    if (!stored.ok()) return error_reply(stored.error());
    start_worker(stored.value());
    Json record = catalog::to_json(stored.value());
    publish_event(opts.subjects.servers_created(), record);
    spdlog::info("[{}] registered (revision {})", stored->name, stored->revision);
    return ok(Json{{"server", std::move(record)}});
  }

  Reply admin_delete(const Json& body) {
    const std::string name = body["name"].get<std::string>();
    if (auto* replicated = cluster ? cluster->catalog() : nullptr) {
      auto removed = replicated->remove(name);
      if (!removed.ok()) return error_reply(removed.error());
      if (!removed.value()) return error_reply(unknown_server(name));
      stop_worker(name, {});
      publish_event(opts.subjects.servers_deleted(), Json{{"name", name}});
      spdlog::info("[{}] deleted from the cluster catalog", name);
      return ok(Json{{"deleted", name}});
    }
    auto removed = store.remove(name);
    if (!removed.ok()) return error_reply(removed.error());
    if (!removed.value()) return error_reply(unknown_server(name));
    stop_worker(name, {});
    publish_event(opts.subjects.servers_deleted(), Json{{"name", name}, {"revision", *removed.value()}});
    spdlog::info("[{}] deleted (revision {})", name, *removed.value());
    return ok(Json{{"deleted", name}});
  }

  Reply admin_get(const Json& body) {
    const std::string name = body["name"].get<std::string>();
    auto config = store.get(name);
    if (!config) return error_reply(unknown_server(name));
    return ok(Json{{"server", catalog::to_json(*config)}});
  }

  Reply admin_list() {
    Json list = Json::array();
    for (const auto& c : store.list()) list.push_back(catalog::to_json(c));
    return ok(Json{{"servers", std::move(list)}});
  }

  // --- events --------------------------------------------------------------------------------
  void on_event(bus::Message msg) {
    auto m = std::make_shared<bus::Message>(std::move(msg));
    asio::post(loop.context(), [self = shared_from_this(), m] { self->apply_event(*m); });
  }

  void apply_event(const bus::Message& msg) {
    const std::string subject(msg.subject());
    if (!msg.reply().empty()) return;  // a request to an event subject is refused, not applied
    Json body = Json::parse(msg.data(), nullptr, false);
    if (body.is_discarded() || !body.is_object()) {
      spdlog::warn("ignored an event on {} that is not a JSON object", subject);
      return;
    }
    if (subject == opts.subjects.servers_created()) {
      auto parsed = catalog::parse_server_config(body);
      if (!parsed.ok()) {
        spdlog::warn("ignored a created event that is not a valid server: {}", parsed.error().message);
        return;
      }
      // An event without a revision comes from an older publisher: take it as a new change
      // (in a JetStream cluster, by writing it to the catalog of record).
      if (!body.contains("revision") && cluster && cluster->catalog()) {
        cluster->post([self = shared_from_this(), config = parsed.value()] {
          if (auto* c = self->cluster->catalog()) {
            auto current = self->store.get(config.name);
            if (!current || !catalog::same_definition(*current, config)) c->put(config);
          }
        });
        return;
      }
      Result<catalog::Applied> applied = body.contains("revision")
                                             ? store.apply_remote_put(parsed.value())
                                             : Result<catalog::Applied>(store.put(parsed.value()).ok()
                                                                            ? catalog::Applied::applied
                                                                            : catalog::Applied::stale);
      if (!applied.ok()) {
        spdlog::error("[{}] could not store a created event: {}", parsed->name, applied.error().message);
        return;
      }
      if (applied.value() == catalog::Applied::applied) {
        auto current = store.get(parsed->name);
        if (current) start_worker(*current);
      } else {
        spdlog::debug("[{}] created event (revision {}) is {}", parsed->name, parsed->revision,
                      catalog::to_string(applied.value()));
      }
    } else if (subject == opts.subjects.servers_deleted()) {
      auto name = body.find("name");
      if (name == body.end() || !name->is_string()) {
        spdlog::warn("ignored a deleted event without a name");
        return;
      }
      std::optional<std::int64_t> revision;
      if (auto r = body.find("revision"); r != body.end() && r->is_number_integer()) revision = r->get<std::int64_t>();
      if (!revision && cluster && cluster->catalog()) {
        cluster->post([self = shared_from_this(), n = name->get<std::string>()] {
          if (auto* c = self->cluster->catalog()) c->remove(n);
        });
        return;
      }
      auto applied = store.apply_remote_delete(name->get<std::string>(), revision);
      if (applied.ok() && applied.value() == catalog::Applied::applied) {
        stop_worker(name->get<std::string>(), {});
      }
    }
  }
};

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
