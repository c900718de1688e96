// mcpctl nodes, and the per-node health of `server show`: the NATS service-discovery stats
// ($SRV.STATS.mcpd) that every mcpd node answers by itself (no queue group), gathered from one
// request over a short window.
#include "commands.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <optional>

namespace mcpd::mcpctl {
namespace {

constexpr std::string_view kStatsType = "io.nats.micro.v1.stats_response";

std::string text(const Json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return {};
  return it->is_string() ? it->get<std::string>() : it->dump();
}

// A counter of the stats (0 when absent or not a number).
std::uint64_t count(const Json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) return 0;
  if (it->is_number_unsigned()) return it->get<std::uint64_t>();
  if (it->is_number_integer()) return static_cast<std::uint64_t>(std::max<std::int64_t>(it->get<std::int64_t>(), 0));
  return 0;
}

const Json& member(const Json& j, const char* key) {
  static const Json kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

// A node of this cluster: one of its endpoints is under --prefix (the nodes of another cluster
// sharing the NATS answer $SRV.STATS.mcpd too). A node that lists no endpoints is kept.
bool in_cluster(const Json& stats, const std::string& prefix) {
  const Json& endpoints = member(stats, "endpoints");
  if (!endpoints.is_array() || endpoints.empty()) return true;
  return std::any_of(endpoints.begin(), endpoints.end(), [&](const Json& e) {
    return e.is_object() && text(e, "subject").starts_with(prefix + ".");
  });
}

// How long ago `started` was (RFC 3339, as mcpd writes it: 2025-01-02T03:04:05.678Z).
std::optional<std::chrono::seconds> since(const std::string& started) {
  std::tm tm{};
  int used = 0;
  if (std::sscanf(started.c_str(), "%4d-%2d-%2d%*1[Tt]%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &used) != 6 || used == 0)
    return std::nullopt;
  std::string_view zone = std::string_view(started).substr(static_cast<std::size_t>(used));
  if (zone.starts_with('.')) zone.remove_prefix(std::min(zone.find_first_not_of("0123456789", 1), zone.size()));
  long offset = 0;
  if (zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && zone[3] == ':') {
    int h = 0, m = 0;
    if (std::sscanf(std::string(zone).c_str() + 1, "%2d:%2d", &h, &m) != 2) return std::nullopt;
    offset = (zone[0] == '-' ? -1L : 1L) * (h * 3600L + m * 60L);
  } else if (zone != "Z" && zone != "z") {
    return std::nullopt;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  const std::time_t at = ::timegm(&tm) - offset;
  return std::chrono::seconds(std::time(nullptr) - at);
}

// A cell of the health table: a number, or "-" when the node did not say.
std::string number(const Json& j, const char* key) { return j.contains(key) ? std::to_string(count(j, key)) : "-"; }

}  // namespace

std::string node_id(const Reply& stats) { return text(stats.body, "id"); }

std::chrono::milliseconds gather_window(const Invocation& inv) {
  if (auto w = inv.args().get("wait")) return std::chrono::milliseconds(parse_int_option("wait", *w, 1, 60'000));
  return kDefaultGatherWindow;
}

std::vector<Reply> node_stats(Invocation& inv, std::chrono::milliseconds window) {
  std::vector<Reply> nodes;
  for (auto& r : inv.gather(std::string(kStatsSubject), "", window))
    if (text(r.body, "type") == kStatsType && in_cluster(r.body, inv.global().prefix)) nodes.push_back(std::move(r));
  std::stable_sort(nodes.begin(), nodes.end(), [](const Reply& a, const Reply& b) { return node_id(a) < node_id(b); });
  return nodes;
}

int run_nodes(Invocation& inv) {
  const std::vector<Reply> nodes = node_stats(inv, gather_window(inv));
  if (nodes.empty())
    throw failure("no mcpd node answered on " + inv.global().nats.url + " (is any mcpd running? same --prefix?)");
  if (inv.global().json) {
    OrderedJson all = OrderedJson::array();
    for (const auto& n : nodes) all.push_back(parse_ordered(n.raw));
    std::cout << pretty(all) << '\n';
    return 0;
  }
  Table table({"NODE", "VERSION", "UP", "SERVERS", "SESSIONS", "IN-FLIGHT", "REQUESTS", "ERRORS"});
  for (const auto& n : nodes) {
    const Json& data = member(n.body, "data");
    const Json& servers = member(data, "servers");
    std::uint64_t sessions = 0, requests = 0, errors = 0;
    if (servers.is_object())
      for (const auto& s : servers) sessions += count(s, "sessions_ready") + count(s, "isolated_sessions");
    // A node with thousands of servers lists only some of them; its totals count them all.
    if (const Json& live = member(member(data, "sessions"), "live"); live.is_number() && count(data, "servers_truncated") > 0)
      sessions = live.get<std::uint64_t>();
    std::string server_count = servers.is_object() ? std::to_string(servers.size()) : "?";
    if (data.contains("server_count")) server_count = std::to_string(count(data, "server_count"));
    if (const Json& endpoints = member(n.body, "endpoints"); endpoints.is_array()) {
      for (const auto& e : endpoints) {
        requests += count(e, "num_requests");
        errors += count(e, "num_errors");
      }
    }
    const auto up = since(text(n.body, "started"));
    table.add({node_id(n), text(n.body, "version"), up ? human_duration(*up) : "?",
               server_count, std::to_string(sessions),
               data.contains("in_flight") ? std::to_string(count(data, "in_flight")) : "?", std::to_string(requests),
               std::to_string(errors)});
  }
  table.print(std::cout);
  return 0;
}

void print_server_health(std::ostream& out, const std::string& name, const std::vector<Reply>& nodes) {
  Table table({"NODE", "SESSIONS", "ISOLATED", "IN-FLIGHT", "QUEUED", "CIRCUIT", "RESTARTS", "LAST ERROR"});
  for (const auto& n : nodes) {
    const Json& s = member(member(member(n.body, "data"), "servers"), name.c_str());
    if (!s.is_object()) {
      const bool cut = count(member(n.body, "data"), "servers_truncated") > 0;
      table.add({node_id(n), cut ? "unknown (this node runs too many servers to list them all)" : "not running"});
      continue;
    }
    std::string sessions = number(s, "sessions_ready");
    if (auto starting = count(s, "sessions_starting"); starting > 0)
      sessions += " (+" + std::to_string(starting) + " starting)";
    table.add({node_id(n), sessions, number(s, "isolated_sessions"), number(s, "in_flight"), number(s, "queued"),
               text(s, "circuit"), number(s, "restarts"), truncate(first_line(text(s, "last_error")), 100)});
  }
  table.print(out, terminal_width());
}

OrderedJson server_health_json(const std::string& name, const std::vector<Reply>& nodes) {
  OrderedJson health = OrderedJson::object();
  for (const auto& n : nodes) {
    const OrderedJson stats = parse_ordered(n.raw);
    const OrderedJson* s = &stats;
    for (const char* key : {"data", "servers", name.c_str()}) {
      if (!s->is_object() || !s->contains(key)) {
        static const OrderedJson kNotRunning;
        s = &kNotRunning;
        break;
      }
      s = &s->at(key);
    }
    health[node_id(n)] = *s;
  }
  return health;
}

}  // namespace mcpd::mcpctl
