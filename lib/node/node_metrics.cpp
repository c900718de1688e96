// The node's /metrics and /readyz: what the pools, the endpoint table, the task service, the
// NATS connection and the process report, written in the Prometheus text format at each scrape.
// Counters are read from where they are kept; nothing here is on the request path.
#include "metrics/process.hpp"
#include "node/internal/node.hpp"

#include <nlohmann/json.hpp>

#include <set>

namespace mcpd::node {

using metrics::Exposition;
using metrics::Label;

namespace {

using Pools = std::vector<std::pair<std::string, std::shared_ptr<pool::SessionPool>>>;
using PoolStatsList = std::vector<std::pair<std::string, pool::PoolStats>>;

void write_pools(Exposition& out, const PoolStatsList& pools) {
  // One family at a time, as the format requires.
  auto per_server = [&](const char* name, Exposition::Type type, const char* help, auto value) {
    out.family(name, type, help);
    for (const auto& [server, s] : pools) {
      const Label labels[] = {{"server", server}};
      out.sample(name, labels, static_cast<std::uint64_t>(value(s)));
    }
  };
  per_server("mcpd_pool_in_flight", Exposition::Type::gauge, "Tool calls running on the server's sessions.",
             [](const pool::PoolStats& s) { return s.in_flight; });
  per_server("mcpd_pool_queued", Exposition::Type::gauge, "Tool calls waiting for a session of the server.",
             [](const pool::PoolStats& s) { return s.queued; });
  per_server("mcpd_session_restarts_total", Exposition::Type::counter,
             "Sessions of the server restarted after a failure.", [](const pool::PoolStats& s) { return s.restarts; });
  per_server("mcpd_tool_list_fetches_total", Exposition::Type::counter, "tools/list requests sent to the server.",
             [](const pool::PoolStats& s) { return s.tool_list_fetches; });
  out.family("mcpd_sessions", Exposition::Type::gauge,
             "The server's sessions by state: ready (shared, taking calls), starting, isolated (per session_id).");
  for (const auto& [server, s] : pools) {
    const std::pair<const char*, int> states[] = {
        {"ready", s.sessions_ready}, {"starting", s.sessions_starting}, {"isolated", s.isolated_sessions}};
    for (auto [state, n] : states) {
      const Label labels[] = {{"server", server}, {"state", state}};
      out.sample("mcpd_sessions", labels, static_cast<std::uint64_t>(n));
    }
  }
  out.family("mcpd_circuit_state", Exposition::Type::gauge,
             "The server's circuit breaker: 1 for its current state (closed, open, half_open), 0 for the others.");
  for (const auto& [server, s] : pools) {
    for (auto state : {pool::CircuitState::closed, pool::CircuitState::open, pool::CircuitState::half_open}) {
      const Label labels[] = {{"server", server}, {"state", pool::to_string(state)}};
      out.sample("mcpd_circuit_state", labels, std::uint64_t{s.circuit == state ? 1u : 0u});
    }
  }
}

void write_gauge(Exposition& out, const char* name, const char* help, double value) {
  out.family(name, Exposition::Type::gauge, help);
  out.sample(name, {}, value);
}

void write_counter(Exposition& out, const char* name, const char* help, std::uint64_t value) {
  out.family(name, Exposition::Type::counter, help);
  out.sample(name, {}, value);
}

}  // namespace

std::string Node::metrics() {
  Exposition out;
  const auto ready = readiness();
  out.family("mcpd_build_info", Exposition::Type::gauge, "The node's version and id (always 1).");
  out.sample("mcpd_build_info", {{"version", opts.version}, {"node", opts.node_id}}, 1.0);
  write_gauge(out, "mcpd_ready", "1 while the node serves requests (as /readyz says), else 0.", ready.ready ? 1 : 0);

  // Pools: a snapshot; series of servers deleted since go.
  PoolStatsList pools;
  for (auto& [name, p] : registry.pools()) pools.emplace_back(name, p->stats());
  std::set<std::string, std::less<>> running;
  for (const auto& [name, s] : pools) running.insert(name);
  calls.retain([&](std::string_view server) { return running.count(server) > 0; });
  calls.write(out);

  out.family("mcpd_requests_total", Exposition::Type::counter, "Requests answered, by endpoint (as $SRV.STATS counts them).");
  const auto endpoints = table.stats();
  for (const auto& e : endpoints) out.sample("mcpd_requests_total", {{"endpoint", e.name}}, e.requests);
  out.family("mcpd_request_errors_total", Exposition::Type::counter, "Requests answered with an error, by endpoint.");
  for (const auto& e : endpoints) out.sample("mcpd_request_errors_total", {{"endpoint", e.name}}, e.errors);
  write_gauge(out, "mcpd_requests_in_flight", "Requests received and not yet answered.", table.in_flight());
  write_gauge(out, "mcpd_servers", "MCP servers this node runs.", static_cast<double>(pools.size()));
  write_pools(out, pools);

  const auto limits = registry.limits().stats();
  write_gauge(out, "mcpd_node_sessions", "Live sessions on the node, across all servers.", limits.sessions);
  write_gauge(out, "mcpd_node_sessions_max", "The node's cap on live sessions ([node] max_sessions).",
              registry.limits().options().max_sessions);
  write_gauge(out, "mcpd_node_processes", "Live sessions with a local server process, across all servers.",
              limits.processes);
  write_gauge(out, "mcpd_node_processes_max", "The node's cap on live server processes ([node] max_live_processes).",
              registry.limits().options().max_live_processes);
  write_gauge(out, "mcpd_session_starts_waiting", "Sessions waiting for a start permit ([node] max_concurrent_starts).",
              limits.waiting_to_start);
  write_counter(out, "mcpd_session_evictions_total", "Idle sessions evicted to make room on the node.",
                limits.evictions);
  write_counter(out, "mcpd_session_refusals_total", "New sessions refused: the node was full and none was idle.",
                limits.refusals);

  const auto t = tasks->stats();
  write_gauge(out, "mcpd_tasks_running", "Tasks running on this node.", t.value("running", 0.0));
  write_counter(out, "mcpd_tasks_created_total", "Tasks created on this node.", t.value("created", std::uint64_t{0}));
  out.family("mcpd_tasks_ended_total", Exposition::Type::counter, "Tasks run here that ended, by final status.");
  for (const char* status : {"completed", "failed", "cancelled"})
    out.sample("mcpd_tasks_ended_total", {{"status", status}}, t.value(status, std::uint64_t{0}));

  const auto nats = bus->stats();
  write_gauge(out, "mcpd_nats_connected", "1 while the node's NATS connection is up, else 0.", bus->connected() ? 1 : 0);
  write_counter(out, "mcpd_nats_reconnects_total", "Times the NATS connection was re-established.", nats.reconnects);
  write_counter(out, "mcpd_nats_in_messages_total", "Messages received over NATS.", nats.in_msgs);
  write_counter(out, "mcpd_nats_out_messages_total", "Messages sent over NATS.", nats.out_msgs);
  write_counter(out, "mcpd_kv_errors_total",
                "JetStream key-value operations that failed (a conflict or a missing key is not a failure).",
                nats.kv_errors);
  metrics::write_process(out);
  return out.take();
}

Readiness Node::readiness() const {
  switch (phase.load()) {
    case Phase::starting: return {false, "starting: the catalog is loading and the subscriptions are not active yet"};
    case Phase::draining: return {false, "draining: the node is shutting down"};
    case Phase::serving: break;
  }
  if (bus->closed()) return {false, "the NATS connection is closed"};
  if (!bus->connected()) return {false, "not connected to NATS (reconnecting)"};
  return {true, {}};
}

}  // namespace mcpd::node
