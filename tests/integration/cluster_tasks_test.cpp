// Tasks in the cluster (tests/support/cluster.hpp: three clustered nats-servers with JetStream,
// three real mcpd nodes, the fake MCP server): a task created through one nats-server is
// answered, fetched and cancelled through the others (the task store is the JetStream bucket);
// SIGKILL of the node running a task fails it within the lease; a node restarted after a kill
// still returns the results it had finished.
#include "bus/connection.hpp"
#include "support/cluster.hpp"
#include "support/test_support.hpp"

#include <catch2/catch.hpp>

using namespace mcpd;
using namespace mcpd::test;
using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kLeaseMs = 2000;

TestClusterOptions task_cluster() {
  TestClusterOptions o;
  o.log_level = "debug";  // "tasks: <id> created" names the node that runs it
  o.more_servers = "[tasks]\nlease_ms = " + std::to_string(kLeaseMs) + "\n";
  return o;
}

Json ask(bus::Connection& c, const std::string& subject, const Json& body,
         std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  auto r = c.request(subject, body.dump(), timeout);
  if (!r.ok()) FAIL("request to " << subject << " failed: " << r.error().message);
  return Json::parse(r.value().data(), nullptr, false);
}

std::string start(bus::Connection& c, Json body) {
  body["task"] = Json::object();
  body["owner"] = "cluster-owner";
  auto r = ask(c, "mcp.fake.execute", body);
  INFO(r.dump());
  REQUIRE(r.contains("task"));
  return r["task"]["task_id"].get<std::string>();
}

Json get(bus::Connection& c, const std::string& id) {
  return ask(c, "mcp.tasks.get", {{"task_id", id}, {"owner", "cluster-owner"}});
}

// Which node logged the task's creation (it runs it), or -1.
int runner_of(TestCluster& cluster, const std::string& id) {
  for (int i = 0; i < TestCluster::kSize; ++i)
    if (cluster.node(i).log().find("tasks: " + id + " created") != std::string::npos) return i;
  return -1;
}

}  // namespace

TEST_CASE("cluster tasks: created through one nats-server - answered fetched and cancelled through the others") {
  TestCluster cluster(task_cluster());
  auto clients = cluster.connect_each();
  const std::string quick = start(*clients[0], {{"tool", "echo"}, {"args", {{"message", "from n1"}}}});
  auto r = ask(*clients[1], "mcp.tasks.result", {{"task_id", quick}, {"owner", "cluster-owner"}, {"wait_ms", 15000}});
  INFO(r.dump());
  CHECK(r["result"] == "from n1");

  const std::string slow = start(*clients[0], {{"tool", "sleep"}, {"args", {{"ms", 30000}}}});
  CHECK(get(*clients[1], slow)["task"]["status"] == "working");
  CHECK(get(*clients[2], slow)["task"]["status"] == "working");
  auto c = ask(*clients[2], "mcp.tasks.cancel", {{"task_id", slow}, {"owner", "cluster-owner"}});
  INFO(c.dump());
  CHECK(c["task"]["status"] == "cancelled");
  for (auto& client : clients) CHECK(get(*client, slow)["task"]["status"] == "cancelled");
  auto cancelled = ask(*clients[0], "mcp.tasks.result", {{"task_id", slow}, {"owner", "cluster-owner"}});
  CHECK(cancelled["code"] == "cancelled");
  // Every node lists the owner's two tasks.
  for (auto& client : clients) CHECK(ask(*client, "mcp.tasks.list", {{"owner", "cluster-owner"}})["tasks"].size() == 2);
  // The runner stopped the call: its log says the run was cancelled.
  const int runner = runner_of(cluster, slow);
  REQUIRE(runner >= 0);
  CHECK(wait_until([&] { return cluster.node(runner).log().find("task " + slow + " (fake/sleep) cancelled") != std::string::npos; }, 10s));
}

TEST_CASE("cluster tasks: SIGKILL of the node running a task fails it within the lease and a restarted node keeps finished results") {
  TestCluster cluster(task_cluster());
  auto clients = cluster.connect_each();
  const std::string done = start(*clients[0], {{"tool", "echo"}, {"args", {{"message", "kept"}}}});
  auto first = ask(*clients[0], "mcp.tasks.result", {{"task_id", done}, {"owner", "cluster-owner"}, {"wait_ms", 15000}});
  INFO(first.dump());
  REQUIRE(first["result"] == "kept");
  const std::string slow = start(*clients[0], {{"tool", "sleep"}, {"args", {{"ms", 60000}}}});
  int runner = -1;
  REQUIRE(wait_until([&] { return (runner = runner_of(cluster, slow)) >= 0; }, 5s));
  const int done_runner = runner_of(cluster, done);
  cluster.kill_node(runner);
  const auto killed = Clock::now();
  auto& other = *clients[(runner + 1) % 3];  // node i uses nats-server i: not the dead node's
  Json t;
  REQUIRE(wait_until([&] { return (t = get(other, slow)["task"]).value("status", "") == "failed"; }, 20s, 100ms));
  const double took = std::chrono::duration<double>(Clock::now() - killed).count();
  INFO(t.dump() << "\nfailed " << took << " s after the kill");
  CHECK(took < 2.0 * kLeaseMs / 1000.0 + 2.0);  // the lease, plus one sweep, plus slack
  CHECK_THAT(t.value("status_message", ""), Catch::Contains(TestCluster::node_id(runner)));
  CHECK(ask(other, "mcp.tasks.result", {{"task_id", slow}, {"owner", "cluster-owner"}})["code"] == "unavailable");

  // Back under the same id: what it (or any node) finished is still there, through every entry.
  cluster.restart_node(runner);
  INFO("the finished task ran on " << (done_runner < 0 ? std::string("?") : TestCluster::node_id(done_runner)));
  for (auto& client : clients)
    CHECK(ask(*client, "mcp.tasks.result", {{"task_id", done}, {"owner", "cluster-owner"}})["result"] == "kept");
}
