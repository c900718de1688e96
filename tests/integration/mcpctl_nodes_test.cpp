// mcpctl nodes and the per-node health of `mcpctl server show`, end to end: the real mcpctl
// binary against one real nats-server and TWO real mcpd processes (each its own node id and
// store, the same servers: the native fake MCP server as "fake"). Both commands gather the
// nodes' NATS service-discovery stats ($SRV.STATS.mcpd, answered by every node) from one request.
#include "support/mcpctl_fixture.hpp"
#include "support/mcpctl_process.hpp"
#include "support/nats_server.hpp"
#include "support/test_support.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstring>
#include <sstream>

using namespace mcpd;
using namespace mcpd::test;
using Json = nlohmann::json;

namespace {

const std::string kNodeA = "mcpctl-node-a";
const std::string kNodeB = "mcpctl-node-b";

// Two mcpd nodes on one nats-server, both answering service discovery.
struct TwoNodes : McpdNodes {
  TwoNodes() : McpdNodes("mcpctl-nodes-test", {kNodeA, kNodeB}) {
    wait_discoverable(*nodes[0], kNodeA);
    wait_discoverable(*nodes[1], kNodeB);
  }

  // Until the node answers its own discovery subject (it starts its servers before that).
  void wait_discoverable(DaemonProcess& d, const std::string& id) {
    const bool up = wait_until([&] { return client->request("$SRV.PING.mcpd." + id, "", 500ms).ok(); }, 15s, 20ms);
    if (!up) FAIL("mcpd " << id << " does not answer $SRV.PING.mcpd." << id << "; its log:\n" << d.log());
  }
};

std::vector<std::string> words(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

// The rows of the first table in `text` after the line `after` (all of `text` when empty):
// each row's words, the header row left out; the table ends at an empty line.
std::vector<std::vector<std::string>> table_rows(const std::string& text, const std::string& after = "") {
  std::istringstream in(text);
  std::string line;
  if (!after.empty())
    while (std::getline(in, line) && line != after) {
    }
  std::vector<std::vector<std::string>> rows;
  bool header = true;
  while (std::getline(in, line) && !line.empty()) {
    if (!std::exchange(header, false)) rows.push_back(words(line));
  }
  return rows;
}

std::vector<std::string> first_column(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::string> ids;
  for (const auto& r : rows) ids.push_back(r.empty() ? "" : r[0]);
  return ids;
}

}  // namespace

TEST_CASE("mcpctl nodes lists every live node as a table and as JSON") {
  TwoNodes c;
  auto call = c.run({"call", "fake", "echo", "--args", R"({"message":"counted"})"});
  INFO(call);
  REQUIRE(call.exit_code == 0);

  auto nodes = c.run({"nodes"});
  INFO(nodes);
  REQUIRE(nodes.exit_code == 0);
  CHECK(words(nodes.out.substr(0, nodes.out.find('\n'))) ==
        std::vector<std::string>{"NODE", "VERSION", "UP", "SERVERS", "SESSIONS", "IN-FLIGHT", "REQUESTS", "ERRORS"});
  auto rows = table_rows(nodes.out);
  REQUIRE(first_column(rows) == std::vector<std::string>{kNodeA, kNodeB});  // sorted by node id
  std::uint64_t requests = 0;
  for (const auto& r : rows) {
    REQUIRE(r.size() == 8);
    CHECK_THAT(r[2], Catch::Matches("[0-9]+s|[0-9]+m[0-9]{2}s"));  // up for seconds
    CHECK(r[3] == "1");                                             // runs "fake"
    CHECK(r[7] == "0");
    requests += std::stoull(r[6]);
  }
  CHECK(requests >= 1);  // the call above, on one of them

  auto json = c.run({"nodes", "--json"});
  INFO(json);
  Json doc = json_out(json);
  REQUIRE(doc.is_array());
  REQUIRE(doc.size() == 2);
  CHECK(doc[0]["id"] == kNodeA);
  CHECK(doc[1]["id"] == kNodeB);
  for (const auto& n : doc) {
    CHECK(n["type"] == "io.nats.micro.v1.stats_response");
    CHECK(n["name"] == "mcpd");
    CHECK(n["data"]["node"] == n["id"]);
    CHECK(n["data"]["servers"].contains("fake"));
    CHECK(n["endpoints"].is_array());
  }

  // Another cluster (subject prefix) on the same NATS has no nodes.
  CHECK_THAT(c.run({"--prefix", "other", "nodes"}),
             ExitsWith(1).err(Catch::Contains("no mcpd node answered on " + c.nats.url())));
}

TEST_CASE("mcpctl server show adds the health of the server on each node") {
  TwoNodes c;
  auto show = c.run({"server", "show", "fake"});
  INFO(show);
  REQUIRE(show.exit_code == 0);
  CHECK_THAT(show.out, Catch::Contains("name:") && Catch::Contains("command:"));
  auto rows = table_rows(show.out, "per-node health:");
  REQUIRE(first_column(rows) == std::vector<std::string>{kNodeA, kNodeB});
  for (const auto& r : rows) {
    // SESSIONS is a number ("0 (+1 starting)" while its session opens): the server runs there.
    REQUIRE(r.size() >= 7);
    CHECK(r[1] != "not");
    CHECK(std::find(r.begin(), r.end(), "closed") != r.end());  // CIRCUIT
  }

  auto json = c.run({"server", "show", "fake", "--json"});
  INFO(json);
  Json doc = json_out(json);
  REQUIRE(doc.is_object());
  CHECK(doc["server"]["name"] == "fake");
  REQUIRE(doc["nodes"].is_object());
  CHECK(doc["nodes"].size() == 2);
  for (const auto& id : {kNodeA, kNodeB}) {
    REQUIRE(doc["nodes"][id].is_object());
    CHECK(doc["nodes"][id]["circuit"] == "closed");
    CHECK(doc["nodes"][id].contains("sessions_ready"));
  }

  // A disabled server runs nowhere; every node says so.
  auto add = c.run({"server", "add", "idle", "--command", fake_server_path(), "--disabled"});
  INFO(add);
  REQUIRE(add.exit_code == 0);
  auto idle = c.run({"server", "show", "idle"});
  INFO(idle);
  REQUIRE(idle.exit_code == 0);
  auto idle_rows = table_rows(idle.out, "per-node health:");
  REQUIRE(first_column(idle_rows) == std::vector<std::string>{kNodeA, kNodeB});
  for (const auto& r : idle_rows) CHECK(r == std::vector<std::string>{r[0], "not", "running"});
  auto idle_json = c.run({"--json", "server", "show", "idle"});
  INFO(idle_json);
  Json idle_doc = Json::parse(idle_json.out, nullptr, false);
  REQUIRE(idle_doc.is_object());
  CHECK(idle_doc["nodes"][kNodeA].is_null());
  CHECK(idle_doc["nodes"][kNodeB].is_null());
}

TEST_CASE("mcpctl nodes no longer lists a node once it has stopped") {
  TwoNodes c;
  auto before = c.run({"nodes"});
  INFO(before);
  REQUIRE(before.exit_code == 0);
  REQUIRE(first_column(table_rows(before.out)) == std::vector<std::string>{kNodeA, kNodeB});

  c.nodes[1]->signal(SIGTERM);
  REQUIRE(c.nodes[1]->wait_exit(15s) == 0);

  auto after = c.run({"nodes"});
  INFO(after);
  REQUIRE(after.exit_code == 0);
  CHECK(first_column(table_rows(after.out)) == std::vector<std::string>{kNodeA});
  auto show = c.run({"server", "show", "fake"});
  INFO(show);
  REQUIRE(show.exit_code == 0);
  CHECK(first_column(table_rows(show.out, "per-node health:")) == std::vector<std::string>{kNodeA});
}

TEST_CASE("mcpctl nodes exits 1 when no mcpd node answers") {
  NatsServer nats;
  CHECK_THAT(mcpctl({"--nats", nats.url(), "nodes"}),
             ExitsWith(1)
                 .err(Catch::Equals("mcpctl: no mcpd node answered on " + nats.url() +
                                    " (is any mcpd running? same --prefix?)\n"))
                 .out(Catch::Equals("")));
  CHECK_THAT(mcpctl({"--nats", nats.url(), "--json", "nodes"}), ExitsWith(1).out(Catch::Equals("")));
  CHECK_THAT(mcpctl({"--nats", nats.url(), "nodes", "--wait", "0"}),
             ExitsWith(2).err(Catch::Contains("--wait: must be between 1 and")));
}
