#include "node/builtin/mcpd_server.hpp"

#include "common/version.hpp"

#include <algorithm>
#include <thread>

namespace mcpd::node {
namespace {

using Json = nlohmann::json;
using namespace std::chrono_literals;

// A tool's answer: the JSON as structuredContent, and as text for clients that read only that.
Json json_result(const Json& value) {
  Json r = mcp::text_result(value.dump(2, ' ', false, Json::error_handler_t::replace));
  r["structuredContent"] = value;
  return r;
}

Json tool_error(const std::string& message) { return mcp::text_result(message, true); }

std::int64_t int_arg(const Json& args, const char* key, std::int64_t fallback, std::int64_t lo, std::int64_t hi) {
  auto it = args.find(key);
  if (it == args.end() || !it->is_number_integer()) return fallback;
  return std::clamp(it->get<std::int64_t>(), lo, hi);
}

std::string string_arg(const Json& args, const char* key) {
  auto it = args.find(key);
  return it != args.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// Where a server runs from: its command, url or built-in name.
std::string where(const catalog::ServerConfig& c) {
  switch (c.transport) {
    case catalog::Transport::stdio: return c.command;
    case catalog::Transport::builtin: return c.builtin;
    default: return c.url;
  }
}

// A server's state on this node, from the registry's status (and the policy's refusal).
Json health_here(const ClusterView& view, const Json& health, const catalog::ServerConfig& c) {
  if (auto it = health.find(c.name); it != health.end()) {
    Json h = *it;
    h["running"] = true;
    return h;
  }
  Json h = {{"running", false}};
  if (!c.enabled) h["why"] = "disabled";
  else if (auto refused = view.refusal(c.name)) h["why"] = refused->message;
  else h["why"] = "not started yet";
  return h;
}

Json summary(const ClusterView& view, const Json& health, const catalog::ServerConfig& c) {
  Json s = {{"name", c.name},
            {"transport", std::string(catalog::to_string(c.transport))},
            {"where", where(c)},
            {"enabled", c.enabled},
            {"revision", c.revision},
            {"here", health_here(view, health, c)}};
  if (!c.description.empty()) s["description"] = c.description;
  return s;
}

Json schema(Json properties, std::vector<std::string> required = {}) {
  Json s = {{"type", "object"}, {"properties", std::move(properties)}, {"additionalProperties", false}};
  if (!required.empty()) s["required"] = required;
  return s;
}

const Json kReadOnly = {{"readOnlyHint", true}, {"openWorldHint", false}};

}  // namespace

mcp::InProcessServer make_mcpd_server(ClusterView view) {
  mcp::InProcessServer server("mcpd", std::string(kVersion));
  auto v = std::make_shared<const ClusterView>(std::move(view));

  server.add_tool(
      {{"name", "list_servers"},
       {"title", "List MCP servers"},
       {"description",
        "The MCP servers registered with this mcpd cluster, in name order, a page at a time: each with its "
        "transport, where it runs from (command, url), and its health on this node (sessions ready, calls in "
        "flight, circuit breaker, last error). Follow next_cursor for more."},
       {"inputSchema",
        schema({{"name_contains", {{"type", "string"}, {"description", "only servers whose name contains this"}}},
                {"cursor", {{"type", "string"}, {"description", "next_cursor of the previous page"}}},
                {"limit", {{"type", "integer"}, {"minimum", 1}, {"maximum", 500}, {"description", "at most this many (default 100)"}}}})},
       {"annotations", kReadOnly}},
      [v](const mcp::ToolCall& call) -> Result<Json> {
        auto all = v->catalog();
        if (!all.ok()) return tool_error("cannot read the catalog: " + all.error().message);
        const std::string filter = string_arg(call.arguments, "name_contains");
        const std::string cursor = string_arg(call.arguments, "cursor");
        const auto limit = static_cast<std::size_t>(int_arg(call.arguments, "limit", 100, 1, 500));
        const Json health = v->health();
        Json servers = Json::array();
        std::size_t total = 0;
        std::string next;
        for (const auto& c : all.value()) {
          if (!filter.empty() && c.name.find(filter) == std::string::npos) continue;
          ++total;
          if (!cursor.empty() && c.name <= cursor) continue;
          if (servers.size() == limit) {
            if (next.empty()) next = servers.back()["name"].get<std::string>();
            continue;
          }
          servers.push_back(summary(*v, health, c));
        }
        Json out = {{"servers", std::move(servers)}, {"total", total}};
        if (!next.empty()) out["next_cursor"] = next;
        return json_result(out);
      });

  server.add_tool(
      {{"name", "get_server"},
       {"title", "Show one MCP server"},
       {"description",
        "One registered MCP server: its whole record (no secret values: those are references) and its health on "
        "this node."},
       {"inputSchema", schema({{"name", {{"type", "string"}, {"description", "the server's name"}}}}, {"name"})},
       {"annotations", kReadOnly}},
      [v](const mcp::ToolCall& call) -> Result<Json> {
        const std::string name = string_arg(call.arguments, "name");
        auto record = v->server(name);
        if (!record.ok()) return tool_error("cannot read the catalog: " + record.error().message);
        if (!record.value()) return tool_error("no MCP server named '" + name + "' is registered (list_servers lists them)");
        const auto& c = *record.value();
        return json_result(Json{{"server", catalog::to_json(c)}, {"here", health_here(*v, v->health(), c)}});
      });

  server.add_tool(
      {{"name", "list_nodes"},
       {"title", "List mcpd nodes"},
       {"description",
        "Every live mcpd node of the cluster with its version, start time, requests in flight, server count, "
        "sessions against its limits, and tasks: the nodes' answers to $SRV.STATS collected for window_ms."},
       {"inputSchema",
        schema({{"window_ms",
                 {{"type", "integer"}, {"minimum", 100}, {"maximum", 5000}, {"description", "how long to collect answers (default 500)"}}}})},
       {"annotations", kReadOnly}},
      [v](const mcp::ToolCall& call) -> Result<Json> {
        const auto window = std::chrono::milliseconds(int_arg(call.arguments, "window_ms", 500, 100, 5000));
        Json nodes = Json::array();
        for (const auto& reply : v->nodes(window)) {
          Json data = reply.value("data", Json::object());
          Json n = {{"node", reply.value("id", data.value("node", std::string()))},
                    {"version", reply.value("version", std::string())},
                    {"started", reply.value("started", std::string())}};
          for (const char* key : {"in_flight", "server_count", "sessions", "tasks"})
            if (data.contains(key)) n[key] = data[key];
          nodes.push_back(std::move(n));
        }
        std::sort(nodes.begin(), nodes.end(), [](const Json& a, const Json& b) { return a["node"] < b["node"]; });
        return json_result(Json{{"count", nodes.size()}, {"nodes", std::move(nodes)}});
      });

  server.add_tool(
      {{"name", "node_status"},
       {"title", "This mcpd node"},
       {"description",
        "The node this server runs on: its id, requests in flight, how many servers it runs, its sessions against "
        "[node] max_sessions and max_concurrent_starts, and its tasks."},
       {"inputSchema", schema(Json::object())},
       {"annotations", kReadOnly}},
      [v](const mcp::ToolCall&) -> Result<Json> { return json_result(v->node()); });

  server.add_tool(
      {{"name", "wait_for_server"},
       {"title", "Wait for an MCP server"},
       {"description",
        "Waits until a server is registered and serving on this node (a session ready, or sessions started on "
        "first use when its minSessions is 0), for example after registering it. Fails after timeout_ms with "
        "what stands in the way (its last error, the policy's refusal)."},
       {"inputSchema",
        schema({{"name", {{"type", "string"}, {"description", "the server's name"}}},
                {"timeout_ms",
                 {{"type", "integer"}, {"minimum", 1}, {"maximum", 300000}, {"description", "how long to wait (default 30000)"}}}},
               {"name"})},
       {"annotations", kReadOnly}},
      [v](const mcp::ToolCall& call) -> Result<Json> {
        const std::string name = string_arg(call.arguments, "name");
        const auto timeout = std::chrono::milliseconds(int_arg(call.arguments, "timeout_ms", 30000, 1, 300000));
        const auto start = std::chrono::steady_clock::now();
        std::string why = "it is not registered";
        for (;;) {
          if (auto record = v->server(name); record.ok() && record.value()) {
            const Json health = v->health();
            const Json here = health_here(*v, health, *record.value());
            if (here["running"] == true &&
                (here.value("sessions_ready", 0) > 0 || record.value()->min_sessions == 0)) {
              const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
              return json_result(Json{{"name", name}, {"serving", true}, {"waited_ms", waited.count()}, {"here", here}});
            }
            why = here["running"] == true ? "no session is ready yet" : here.value("why", std::string("it is not running"));
            if (auto e = here.find("last_error"); e != here.end() && e->is_string() && !e->get<std::string>().empty())
              why += " (last error: " + e->get<std::string>() + ")";
          }
          if (call.stop.stop_requested()) return tool_error("cancelled while waiting for '" + name + "'");
          if (std::chrono::steady_clock::now() - start >= timeout)
            return tool_error("server '" + name + "' is not serving on this node after " + std::to_string(timeout.count()) +
                              " ms: " + why);
          std::this_thread::sleep_for(100ms);
        }
      });
  return server;
}

}  // namespace mcpd::node
