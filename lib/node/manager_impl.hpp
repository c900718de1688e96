// Manager::Impl: the state of a node's Manager, shared by its translation units
// (manager.cpp: workers and the public API; manager_requests.cpp: the NATS request path;
// manager_catalog.cpp: the admin API and catalog events). Internal to lib/node.
#pragma once

#include "node/cluster.hpp"
#include "node/discovery.hpp"
#include "node/manager.hpp"
#include "node/replies.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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

  std::vector<EndpointStats> endpoint_stats();

  // What this node runs: per server, its sessions and load (the data of $SRV.STATS).
  Json status();

  std::unique_ptr<Discovery> discovery;
  std::unique_ptr<Cluster> cluster;
  std::unique_ptr<bus::Subscription> node_sub;  // calls forwarded to this node (session owner)
  const std::string nodes_prefix = opts.subjects.prefix + ".nodes.";

  // --- workers -------------------------------------------------------------------------------
  void start_worker(const catalog::ServerConfig& requested);
  void stop_worker(const std::string& name, std::function<void()> done);
  void stop_all(std::function<void()> done, std::optional<std::chrono::milliseconds> drain = std::nullopt);
  std::shared_ptr<pool::SessionPool> find(const std::string& name) const;

  // --- requests ------------------------------------------------------------------------------
  // On a NATS delivery thread: take the message and return at once.
  void receive(bus::Message msg);

  // Publishes the answer to a request and closes its accounting. A reply NATS would refuse
  // (over max_payload) becomes a too_large error, so the caller is never left waiting.
  void answer(const Ctx& reply_to, const Reply& reply);

  // A call forwarded by another node to this one, the owner of its session:
  // <prefix>.nodes.<this node>.<server>.execute. Answered here, straight to the caller.
  void handle_forwarded(bus::Message msg);
  // Routes a request by its subject to execute, list-tools or the admin API.
  void handle(const bus::Message& msg) { handle(msg, parse_route(opts.subjects, msg.subject()), false); }
  void handle(const bus::Message& msg, Route route, bool forwarded);

  // Parses and validates a request body against its schema. An empty body means {}.
  std::optional<Error> parse_body(std::string_view data, RouteKind kind, Json& out);
  Error unknown_server(const std::string& name) const;
  // A tool call: to this node's pool, or to the node that owns its session. `settled` is the
  // affinity decision once made; `fetched` once the catalog of record was asked for `server`.
  void execute(const std::string& server, Json body, const Ctx& reply_to, bool forwarded = false,
               std::optional<Affinity::Decision> settled = std::nullopt, bool fetched = false);

  // Hands a call to the node that owns its session, with the caller's reply subject: the
  // owner answers the caller directly.
  void forward(const std::string& owner, const std::string& server, const Json& body, const Ctx& reply_to);
  void list_tools(const std::string& server, const Ctx& reply_to);

  // --- admin ---------------------------------------------------------------------------------
  static Reply ok(Json body) { return Reply{body.dump(-1, ' ', false, Json::error_handler_t::replace), {}}; }
  void publish_event(const std::string& subject, const Json& event);
  Reply admin_put(const Json& body);
  Reply admin_delete(const Json& body);
  Reply admin_get(const Json& body);
  Reply admin_list();

  // --- events --------------------------------------------------------------------------------
  void on_event(bus::Message msg);
  void apply_event(const bus::Message& msg);
};

}  // namespace mcpd::node
