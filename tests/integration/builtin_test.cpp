// The built-in "mcpd" server (transport "builtin") end to end: registered like any server,
// reached through NATS like any server, its tools reporting the node and cluster it runs in,
// and a call in flight cancelled (by its deadline, and as a task) without holding up others.
#include "bus/connection.hpp"
#include "support/daemon_process.hpp"
#include "support/nats_server.hpp"
#include "support/test_support.hpp"

#include <catch2/catch.hpp>

#include <set>

using namespace mcpd;
using namespace mcpd::test;
using Json = nlohmann::json;

namespace {

struct Node {
  NatsServer nats;
  std::unique_ptr<DaemonProcess> daemon;
  std::shared_ptr<bus::Connection> client;

  Node() {
    bus::Options o;
    o.servers = {nats.url()};
    o.name = "test-client";
    client = bus::Connection::connect(o).value();
    daemon = std::make_unique<DaemonProcess>("[node]\nid = \"builtin-node\"\n[nats]\nurl = \"" + nats.url() + R"("
[[servers]]
name = "cluster"
transport = "builtin"
builtin = "mcpd"

[[servers]]
name = "fake"
command = ")" + fake_server_path() + R"("

[[servers]]
name = "off"
command = ")" + fake_server_path() + R"("
enabled = false
)");
    daemon->wait_serving(*client);
  }
  ~Node() {
    daemon->signal(SIGTERM);
    daemon->wait_exit();
  }

  Json request(const std::string& subject, const Json& body, std::chrono::milliseconds timeout = 20s) {
    auto r = client->request(subject, body.dump(), timeout);
    if (!r.ok()) FAIL("request to " << subject << " failed: " << r.error().message << "\nmcpd log:\n" << daemon->log());
    return Json::parse(r.value().data());
  }
  // A tool of the built-in server; its structuredContent (compat format).
  Json tool(const std::string& name, const Json& args = Json::object()) {
    Json reply = request("mcp.cluster.execute", {{"tool", name}, {"args", args}});
    INFO(reply.dump());
    REQUIRE(reply.contains("result"));
    return reply["result"];
  }
};

}  // namespace

TEST_CASE("the built-in mcpd server reports the node's servers - nodes and sessions through NATS") {
  Node n;
  Json tools = n.request("mcp.cluster.list-tools", Json::object());
  std::set<std::string> names;
  for (const auto& t : tools["tools"]) names.insert(t["name"].get<std::string>());
  CHECK(names == std::set<std::string>{"get_server", "list_nodes", "list_servers", "node_status", "wait_for_server"});

  Json servers = n.tool("list_servers");
  CHECK(servers["total"] == 3);
  REQUIRE(servers["servers"].size() == 3);
  CHECK(servers["servers"][0]["name"] == "cluster");
  CHECK(servers["servers"][0]["transport"] == "builtin");
  CHECK(servers["servers"][0]["here"]["running"] == true);
  CHECK(servers["servers"][1]["name"] == "fake");
  CHECK(servers["servers"][1]["here"]["running"] == true);
  CHECK(servers["servers"][2]["here"]["running"] == false);
  CHECK(servers["servers"][2]["here"]["why"] == "disabled");
  // Pages: one at a time, then on from next_cursor.
  Json first = n.tool("list_servers", {{"limit", 1}});
  REQUIRE(first["servers"].size() == 1);
  Json second = n.tool("list_servers", {{"limit", 1}, {"cursor", first["next_cursor"]}});
  CHECK(second["servers"][0]["name"] == "fake");
  CHECK(n.tool("list_servers", {{"name_contains", "ak"}})["total"] == 1);

  // The fake server's first session starts in the background: wait_for_server says when it is up.
  CHECK(n.tool("wait_for_server", {{"name", "fake"}, {"timeout_ms", 20000}})["serving"] == true);
  Json fake = n.tool("get_server", {{"name", "fake"}});
  CHECK(fake["server"]["command"] == fake_server_path());
  CHECK(fake["here"]["sessions_ready"].get<int>() >= 1);
  Json missing = n.request("mcp.cluster.execute", {{"tool", "get_server"}, {"args", {{"name", "nope"}}}});
  CHECK(missing["code"] == "tool_error");
  CHECK_THAT(missing["error"].get<std::string>(), Catch::Contains("no MCP server named 'nope'"));

  Json nodes = n.tool("list_nodes", {{"window_ms", 300}});
  CHECK(nodes["count"] == 1);
  CHECK(nodes["nodes"][0]["node"] == "builtin-node");
  CHECK(nodes["nodes"][0]["server_count"] == 2);

  Json self = n.tool("node_status");
  CHECK(self["node"] == "builtin-node");
  CHECK(self["sessions"]["live"].get<int>() >= 2);
  CHECK_FALSE(self.contains("servers"));

  // A server registered now: wait_for_server returns once it serves here.
  Json put = n.request("mcp.admin.servers.put", {{"name", "late"}, {"command", fake_server_path()}});
  REQUIRE(put.contains("server"));
  Json waited = n.tool("wait_for_server", {{"name", "late"}, {"timeout_ms", 20000}});
  CHECK(waited["serving"] == true);
  CHECK(waited["here"]["sessions_ready"].get<int>() >= 1);

  // Records of the built-in kind are checked like any other.
  Json bad = n.request("mcp.admin.servers.put", {{"name", "shell"}, {"transport", "builtin"}, {"builtin", "shell"}});
  CHECK(bad["code"] == "invalid_request");
  CHECK_THAT(bad["error"].get<std::string>(), Catch::Contains("builtin"));
  Json mixed = n.request("mcp.admin.servers.put",
                         {{"name", "mixed"}, {"transport", "builtin"}, {"builtin", "mcpd"}, {"command", "/bin/sh"}});
  CHECK(mixed["code"] == "invalid_request");

  // The node stops promptly and cleanly with its built-in server open.
  n.daemon->signal(SIGTERM);
  CHECK(n.daemon->wait_exit(15s) == 0);
}

TEST_CASE("a built-in call in flight is cancelled by its deadline and as a task - the server goes on") {
  Node n;
  // Waiting for a server that never comes: the caller's deadline ends the call with timeout
  // (the server is sent notifications/cancelled and its handler stops).
  const auto start = std::chrono::steady_clock::now();
  Json timed_out = n.request("mcp.cluster.execute",
                             {{"tool", "wait_for_server"}, {"args", {{"name", "never"}, {"timeout_ms", 60000}}}, {"timeout_ms", 500}});
  const auto took = std::chrono::steady_clock::now() - start;
  CHECK(timed_out["code"] == "timeout");
  CHECK(took < 10s);
  // Meanwhile and afterwards, other calls are answered at once.
  CHECK(n.tool("node_status")["node"] == "builtin-node");

  // As a task: cancelled through mcp.tasks.cancel while it waits.
  Json created = n.request("mcp.cluster.execute", {{"tool", "wait_for_server"},
                                                   {"args", {{"name", "never"}, {"timeout_ms", 60000}}},
                                                   {"task", Json::object()},
                                                   {"owner", "ops"}});
  INFO(created.dump());
  REQUIRE(created["task"]["task_id"].is_string());
  const std::string id = created["task"]["task_id"];
  Json cancelled = n.request("mcp.tasks.cancel", {{"task_id", id}, {"owner", "ops"}});
  CHECK(cancelled["task"]["status"] == "cancelled");
  Json result = n.request("mcp.tasks.result", {{"task_id", id}, {"owner", "ops"}});
  CHECK(result["code"] == "cancelled");
  CHECK(n.tool("list_servers")["total"] == 3);
}
