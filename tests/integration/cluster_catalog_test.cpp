// The cluster's catalog end to end (three clustered nats-servers with JetStream, three real
// mcpd nodes on loopback, tests/support/cluster.hpp): a node that was down while servers were
// created, changed and deleted converges after restart; concurrent puts, and puts racing deletes,
// end the same on every node, as the catalog bucket orders them.
#include "bus/connection.hpp"
#include "bus/kv.hpp"
#include "support/cluster.hpp"
#include "support/test_support.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <mutex>
#include <thread>

using namespace mcpd;
using namespace mcpd::test;
using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kTestBound = std::chrono::seconds(60);  // generous: each test takes far less

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Waits (up to 10 s) until every node runs `server` at revision `want` (0: runs it not at
// all). `seen` is the revision each node had last, for the failure message.
struct Revisions {
  bool same = false;
  std::array<std::int64_t, 3> seen{};
};
Revisions await_revision(TestCluster& cluster, const std::string& server, std::int64_t want) {
  Revisions r;
  r.same = wait_until(
      [&] {
        for (int n = 0; n < 3; ++n) r.seen[n] = cluster.server_stats(n, server).value("revision", std::int64_t{0});
        return r.seen[0] == want && r.seen[1] == want && r.seen[2] == want;
      },
      10s, 50ms);
  return r;
}

}  // namespace

TEST_CASE("cluster: a node down during create change and delete converges after restart") {
  const auto t0 = Clock::now();
  TestCluster cluster;
  auto admin = cluster.connect({0});
  auto put = [&](const Json& server) {
    auto r = admin->request("mcp.admin.servers.put", server.dump(), std::chrono::seconds(10));
    REQUIRE(r.ok());
    auto body = Json::parse(r.value().data(), nullptr, false);
    INFO(body.dump());
    REQUIRE(body.contains("server"));
    return body["server"]["revision"].get<std::int64_t>();
  };
  auto servers_of = [&](int node) {
    std::map<std::string, std::int64_t> out;  // name -> revision
    auto s = cluster.stats(node);
    if (s.is_object() && s.contains("servers"))
      for (auto it = s["servers"].begin(); it != s["servers"].end(); ++it) out[it.key()] = it.value()["revision"];
    return out;
  };
  auto converged = [&](const std::vector<int>& nodes, const std::map<std::string, std::int64_t>& want) {
    for (int n : nodes)
      if (servers_of(n) != want) return false;
    return true;
  };

  // Before: "s-old" (to be deleted) runs everywhere, and every node agrees on "fake".
  const std::int64_t old_rev = put({{"name", "s-old"}, {"command", fake_server_path()}, {"minSessions", 0}});
  std::map<std::string, std::int64_t> want;
  REQUIRE(wait_until(
      [&] {
        want = servers_of(0);
        return want.count("s-old") && want["s-old"] == old_rev && converged({1, 2}, want);
      },
      10s, 50ms));

  REQUIRE(cluster.stop_node(2) == 0);
  const std::int64_t new_rev = put({{"name", "s-new"}, {"command", fake_server_path()}, {"minSessions", 0}});
  const std::int64_t fake_rev = put({{"name", "fake"},
                                     {"command", fake_server_path()},
                                     {"args", {"--mode", "echo"}},
                                     {"env", {{"FAKE_VERSION", "2"}}},
                                     {"minSessions", 1},
                                     {"maxSessions", 4},
                                     {"maxIsolatedSessions", 400}});
  auto del = admin->request("mcp.admin.servers.delete", R"({"name":"s-old"})", std::chrono::seconds(10));
  REQUIRE(del.ok());
  REQUIRE(Json::parse(del.value().data(), nullptr, false).value("deleted", std::string()) == "s-old");
  want = {{"fake", fake_rev}, {"s-new", new_rev}};
  {
    INFO(cluster.logs(20));
    REQUIRE(wait_until([&] { return converged({0, 1}, want); }, 10s, 50ms));
  }

  const auto restarted = Clock::now();
  cluster.restart_node(2);
  std::map<std::string, std::int64_t> seen;
  bool ok = wait_until(
      [&] {
        seen = servers_of(2);
        return seen == want;
      },
      15s, 50ms);
  const double took = seconds_since(restarted);
  std::string shown;
  for (const auto& [name, rev] : seen) shown += " " + name + "@" + std::to_string(rev);
  INFO("node-3 runs:" << shown << " (want fake@" << fake_rev << " s-new@" << new_rev << ") after " << took << " s\n"
                      << cluster.logs(25));
  REQUIRE(ok);
  CHECK(took < 10.0);
  CHECK(converged({0, 1}, want));
  CHECK(Clock::now() - t0 < kTestBound);
}

TEST_CASE("cluster: a config file's servers are written to the bucket once - and as written again at the next start") {
  const auto t0 = Clock::now();
  TestCluster cluster;
  auto admin = cluster.connect({0});
  auto definition = [&](const std::string& name) {
    auto r = admin->request("mcp.admin.servers.get", Json{{"name", name}}.dump(), std::chrono::seconds(10));
    REQUIRE(r.ok());
    auto body = Json::parse(r.value().data(), nullptr, false);
    INFO(body.dump());
    REQUIRE(body.contains("server"));
    return body["server"];
  };
  auto filed = [](const std::string& version) {
    return "[[servers]]\nname = \"filed\"\ncommand = \"" + fake_server_path() + "\"\nminSessions = 0\n" +
           "env = { FAKE_VERSION = \"" + version + "\" }\n";
  };
  {
    // Every file says "fake" alike: the first node to sync writes it, the others find it as
    // written and write nothing (the bucket's first revision stays).
    auto r = await_revision(cluster, "fake", 1);
    INFO("revisions: " << r.seen[0] << " " << r.seen[1] << " " << r.seen[2] << "\n" << cluster.logs(20));
    REQUIRE(r.same);
  }
  // node-3's file gains a server: at its next start the whole cluster runs it.
  REQUIRE(cluster.stop_node(2) == 0);
  cluster.rewrite_node_config(2, filed("file-1"));
  cluster.restart_node(2);
  std::int64_t rev = 0;
  REQUIRE(wait_until([&] { return (rev = cluster.server_stats(0, "filed").value("revision", std::int64_t{0})) > 1; }, 10s, 50ms));
  REQUIRE(await_revision(cluster, "filed", rev).same);
  // Changed through the admin API; at node-3's next start its file's servers run as written
  // again (the file is the node's word on them), and the cluster follows.
  auto put = admin->request("mcp.admin.servers.put",
                            Json{{"name", "filed"}, {"command", fake_server_path()}, {"minSessions", 0},
                                 {"env", {{"FAKE_VERSION", "admin"}}}}.dump(),
                            std::chrono::seconds(10));
  REQUIRE(put.ok());
  const std::int64_t admin_rev = Json::parse(put.value().data(), nullptr, false)["server"]["revision"].get<std::int64_t>();
  REQUIRE(await_revision(cluster, "filed", admin_rev).same);
  CHECK(definition("filed")["env"]["FAKE_VERSION"] == "admin");
  REQUIRE(cluster.stop_node(2) == 0);
  cluster.restart_node(2);
  REQUIRE(wait_until([&] { return (rev = cluster.server_stats(0, "filed").value("revision", std::int64_t{0})) > admin_rev; },
                     10s, 50ms));
  CHECK(await_revision(cluster, "filed", rev).same);
  CHECK(definition("filed")["env"]["FAKE_VERSION"] == "file-1");
  // A restart that changes nothing writes nothing.
  REQUIRE(cluster.stop_node(2) == 0);
  cluster.restart_node(2);
  {
    auto r = await_revision(cluster, "filed", rev);
    INFO("revisions: " << r.seen[0] << " " << r.seen[1] << " " << r.seen[2] << " want " << rev);
    CHECK(r.same);
  }
  // node-3's file changes the server: at its next start the file's definition wins everywhere.
  REQUIRE(cluster.stop_node(2) == 0);
  cluster.rewrite_node_config(2, filed("file-2"));
  cluster.restart_node(2);
  const std::int64_t before = rev;
  REQUIRE(wait_until([&] { return (rev = cluster.server_stats(0, "filed").value("revision", std::int64_t{0})) > before; },
                     10s, 50ms));
  {
    auto r = await_revision(cluster, "filed", rev);
    INFO("revisions: " << r.seen[0] << " " << r.seen[1] << " " << r.seen[2] << " want " << rev << "\n" << cluster.logs(20));
    CHECK(r.same);
  }
  CHECK(definition("filed")["env"]["FAKE_VERSION"] == "file-2");
  CHECK(Clock::now() - t0 < kTestBound);
}

TEST_CASE("cluster: concurrent changes to one server end the same on every node") {
  const auto t0 = Clock::now();
  TestCluster cluster;
  auto clients = cluster.connect_each();
  constexpr int kWriters = 3, kPuts = 10;
  std::mutex mu;
  std::int64_t last = 0;  // the highest revision a put was answered with: the bucket's last word
  std::vector<std::string> errors;
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w)
    writers.emplace_back([&, w] {
      for (int k = 0; k < kPuts; ++k) {
        Json server = {{"name", "race"},
                       {"command", fake_server_path()},
                       {"minSessions", 0},
                       {"env", {{"WRITER", std::to_string(w) + "-" + std::to_string(k)}}}};
        auto r = clients[w]->request("mcp.admin.servers.put", server.dump(), std::chrono::seconds(10));
        Json body = r.ok() ? Json::parse(r.value().data(), nullptr, false) : Json();
        std::lock_guard lock(mu);
        if (!body.is_object() || !body.contains("server")) {
          errors.push_back(r.ok() ? body.dump() : r.error().message);
          continue;
        }
        last = std::max(last, body["server"]["revision"].get<std::int64_t>());
      }
    });
  for (auto& t : writers) t.join();
  INFO(errors.size() << " puts failed, e.g. " << (errors.empty() ? "" : errors.front()));
  CHECK(errors.empty());
  REQUIRE(last > 0);
  const auto [same, seen] = await_revision(cluster, "race", last);
  INFO("revision of 'race' on node-1/2/3: " << seen[0] << " / " << seen[1] << " / " << seen[2] << "; last put "
                                            << last << "\n"
                                            << cluster.logs(15));
  CHECK(same);
  CHECK(Clock::now() - t0 < kTestBound);
}

TEST_CASE("cluster: puts racing deletes of one server end the same on every node") {
  const auto t0 = Clock::now();
  TestCluster cluster;
  auto clients = cluster.connect_each();
  constexpr int kRounds = 12;
  std::atomic<int> failures{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < 3; ++w)
    writers.emplace_back([&, w] {
      for (int k = 0; k < kRounds; ++k) {
        // Writers 0 and 1 put, writer 2 deletes: every delete meets a put in flight somewhere.
        const bool put = w != 2;
        Json body = put ? Json{{"name", "flip"}, {"command", fake_server_path()}, {"minSessions", 0},
                               {"env", {{"ROUND", std::to_string(w) + "-" + std::to_string(k)}}}}
                        : Json{{"name", "flip"}};
        auto r = clients[w]->request(put ? "mcp.admin.servers.put" : "mcp.admin.servers.delete", body.dump(),
                                     std::chrono::seconds(10));
        Json reply = r.ok() ? Json::parse(r.value().data(), nullptr, false) : Json();
        // A delete of a server already deleted is refused (unknown server): not a failure.
        const bool ok = reply.is_object() && (reply.contains("server") || reply.contains("deleted") ||
                                              (!put && reply.value("code", "") == "invalid_request"));
        if (!ok) ++failures;
      }
    });
  for (auto& t : writers) t.join();
  CHECK(failures == 0);
  // The bucket is the catalog of record: every node must end up running exactly what it holds.
  bus::KvOptions o;
  o.bucket = "mcp-catalog";
  auto kv = bus::KeyValue::open(*clients[0], o);
  REQUIRE(kv.ok());
  auto record = kv.value()->get("flip");
  REQUIRE(record.ok());
  const std::int64_t want = record.value() ? static_cast<std::int64_t>(record.value()->revision) : 0;
  const auto [same, seen] = await_revision(cluster, "flip", want);
  INFO("revision of 'flip' on node-1/2/3: " << seen[0] << " / " << seen[1] << " / " << seen[2]
                                           << "; in the bucket: " << want << " (0: deleted)\n"
                                           << cluster.logs(15));
  CHECK(same);
  CHECK(Clock::now() - t0 < kTestBound);
}

TEST_CASE("cluster: a catalog event is only a hint and a forged record is never stored or run") {
  const auto t0 = Clock::now();
  TestCluster cluster;
  auto client = cluster.connect({0});
  TempDir scratch;
  const auto marker = scratch.path() / "forged.marker";
  Json forged = {{"name", "forged"},
                 {"transport", "stdio"},
                 {"command", "/bin/sh"},
                 {"args", {"-c", ": > '" + marker.string() + "'"}},
                 {"minSessions", 1}};
  Json with_revision = forged;
  with_revision["revision"] = 5;
  Json takeover = forged;  // an existing server's name, a revision far ahead
  takeover["name"] = "fake";
  takeover["revision"] = std::int64_t{1} << 62;
  for (const Json& event : {forged, with_revision, takeover})
    REQUIRE(client->publish("mcp.servers.created", event.dump()).ok());
  REQUIRE(client->publish("mcp.servers.deleted", Json{{"name", "fake"}, {"revision", std::int64_t{1} << 62}}.dump()).ok());
  REQUIRE(client->publish("mcp.servers.deleted", Json{{"name", "fake"}}.dump()).ok());
  REQUIRE(client->flush(2s).ok());

  // A real change through the admin API still reaches every node, at an ordinary revision: the
  // catalog is not frozen. Then, for a generous while, the forged record never runs anywhere.
  auto put = client->request("mcp.admin.servers.put",
                             Json{{"name", "control"}, {"command", fake_server_path()}}.dump(), 10s);
  REQUIRE(put.ok());
  const auto revision = Json::parse(put.value().data())["server"]["revision"].get<std::int64_t>();
  CHECK(revision < 1000);
  CHECK(await_revision(cluster, "control", revision).same);
  CHECK_FALSE(wait_until([&] { return std::filesystem::exists(marker); }, 3s, 50ms));
  for (int n = 0; n < 3; ++n) {
    INFO("node " << n + 1 << cluster.logs(20));
    CHECK(cluster.server_stats(n, "forged").empty());
    CHECK(cluster.server_stats(n, "fake").value("revision", std::int64_t{0}) < 1000);  // still the real one
  }
  auto call = client->request("mcp.fake.execute", R"({"tool":"echo","args":{"message":"still here"}})", 10s);
  REQUIRE(call.ok());
  CHECK(Json::parse(call.value().data()).value("result", "") == "still here");
  CHECK(Clock::now() - t0 < kTestBound);
}
