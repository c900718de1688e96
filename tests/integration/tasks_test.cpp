// Tasks (the NATS contract 1.1) on one node, end to end: a real nats-server (no JetStream, so
// the node keeps its tasks in SQLite), the real mcpd, server-everything for native tasks
// (simulate-research-query: taskSupport "required", input_required through an elicitation)
// and for emulated ones (trigger-long-running-operation and its progress), the fake server for
// tool errors and quick calls. The cluster's side (JetStream, other nodes, a dead runner) is in
// cluster_test.cpp.
#include "bus/connection.hpp"
#include "support/daemon_process.hpp"
#include "support/nats_server.hpp"
#include "support/test_support.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <mutex>
#include <regex>
#include <set>

using namespace mcpd;
using namespace mcpd::test;
using Json = nlohmann::json;

namespace {

struct Reply {
  Json body;
  std::optional<std::string> code_header;
};

std::string servers() {
  return R"(
[[servers]]
name = "everything"
command = ")" + npm_bin("mcp-server-everything") + R"("

[[servers]]
name = "fake"
command = ")" + fake_server_path() + R"("
)";
}

// Status events of one subject, gathered as they come.
struct Events {
  std::mutex mu;
  std::vector<Json> seen;
  std::unique_ptr<bus::Subscription> sub;

  Events(bus::Connection& c, const std::string& subject) {
    sub = c.subscribe(subject, [this](bus::Message m) {
             std::lock_guard lock(mu);
             seen.push_back(Json::parse(m.data(), nullptr, false));
           }).value();
  }
  std::vector<Json> all() {
    std::lock_guard lock(mu);
    return seen;
  }
  bool any(const std::function<bool(const Json&)>& pred) {
    for (const auto& e : all())
      if (pred(e)) return true;
    return false;
  }
};

struct Node {
  NatsServer nats;
  std::unique_ptr<DaemonProcess> daemon;
  std::shared_ptr<bus::Connection> client;

  explicit Node(const std::string& extra_toml = "") {
    bus::Options o;
    o.servers = {nats.url()};
    o.name = "test-client";
    client = bus::Connection::connect(o).value();
    daemon = std::make_unique<DaemonProcess>("[node]\nid = \"task-node\"\n[nats]\nurl = \"" + nats.url() + "\"\n" +
                                             extra_toml + servers());
    serving();
  }
  // The admin API answers first; tasks once the node has chosen their store (after joining the cluster).
  void serving() {
    daemon->wait_serving(*client);
    REQUIRE(wait_until(
        [&] {
          auto r = client->request("mcp.tasks.list", "{}", 1s);
          return r.ok() && Json::parse(r.value().data(), nullptr, false).contains("tasks");
        },
        20s, 50ms));
  }
  ~Node() {
    if (daemon) {
      daemon->signal(SIGTERM);
      daemon->wait_exit();
    }
  }

  Reply request(const std::string& subject, const Json& body, std::chrono::milliseconds timeout = 30s) {
    auto r = client->request(subject, body.dump(), timeout);
    if (!r.ok()) FAIL("request to " << subject << " failed: " << r.error().message << "\nmcpd log:\n" << daemon->log());
    return Reply{Json::parse(r.value().data(), nullptr, false), r.value().header("Nats-Service-Error-Code")};
  }
  // Creates a task; returns its id (checked to be a fresh, working task).
  std::string start(const std::string& server, Json body) {
    body["task"] = body.value("task", Json::object());
    auto r = request("mcp." + server + ".execute", body);
    INFO(r.body.dump());
    REQUIRE(r.body.contains("task"));
    const std::string id = r.body["task"]["task_id"].get<std::string>();
    CHECK(std::regex_match(id, std::regex("[0-9a-f]{32}")));
    CHECK(r.body["task"]["status"] == "working");
    CHECK(r.body["task"]["server"] == server);
    return id;
  }
  Json get(const std::string& id, const std::string& owner = "") {
    Json body = {{"task_id", id}};
    if (!owner.empty()) body["owner"] = owner;
    return request("mcp.tasks.get", body).body;
  }
  bool reaches(const std::string& id, const std::string& status, const std::string& owner = "",
               std::chrono::milliseconds within = 20s) {
    return wait_until([&] { return get(id, owner)["task"].value("status", "") == status; }, within, 100ms);
  }
  Reply result(const std::string& id, const std::string& owner = "", int wait_ms = 25'000) {
    Json body = {{"task_id", id}, {"wait_ms", wait_ms}};
    if (!owner.empty()) body["owner"] = owner;
    return request("mcp.tasks.result", body, std::chrono::milliseconds(wait_ms + 5000));
  }
};

std::string text_of(const Reply& r) {
  INFO(r.body.dump());
  REQUIRE(r.body.contains("result"));
  return r.body["result"].is_string() ? r.body["result"].get<std::string>() : r.body["result"].dump();
}

}  // namespace

TEST_CASE("tasks: a plain execute of a tool that requires a task just works") {
  Node n;
  // simulate-research-query has taskSupport "required": mcpd runs it as a task and answers at its end.
  auto r = n.request("mcp.everything.execute", {{"tool", "simulate-research-query"}, {"args", {{"topic", "plain"}}}});
  CHECK_THAT(text_of(r), Catch::Contains("Research Report: plain"));
  CHECK_FALSE(r.code_header);
}

TEST_CASE("tasks: a native task answers at once - its status events arrive - and its result is kept") {
  Node n;
  Events events(*n.client, "mcp.tasks.*.status");
  const std::string id = n.start("everything", {{"tool", "simulate-research-query"}, {"args", {{"topic", "stars"}}}});
  auto r = n.result(id);
  CHECK_THAT(text_of(r), Catch::Contains("Research Report: stars"));
  // Every stage's status message was published, in order (the server notifies each change; a
  // poll alone could miss a stage), and the last event says completed.
  REQUIRE(wait_until([&] { return events.any([&](const Json& e) { return e["task"]["status"] == "completed"; }); }, 5s));
  std::vector<std::string> stages;
  for (const auto& e : events.all())
    if (e["task"]["task_id"] == id && e["task"]["status"] == "working") {
      auto m = e["task"].value("status_message", "");
      if (!m.empty() && (stages.empty() || stages.back() != m)) stages.push_back(m);
    }
  CHECK(stages == std::vector<std::string>{"Gathering sources...", "Analyzing content...", "Synthesizing findings...",
                                           "Generating report..."});
  auto t = n.get(id)["task"];
  CHECK(t["status"] == "completed");
  CHECK(t["tool"] == "simulate-research-query");
  // The result can be fetched again, unchanged.
  CHECK(text_of(n.result(id)) == text_of(r));
}

TEST_CASE("tasks: cancel stops a native task and its result says cancelled") {
  Node n;
  const std::string id = n.start("everything", {{"tool", "simulate-research-query"}, {"args", {{"topic", "c"}}}});
  REQUIRE(n.reaches(id, "working"));
  auto c = n.request("mcp.tasks.cancel", {{"task_id", id}});
  INFO(c.body.dump());
  CHECK(c.body["task"]["status"] == "cancelled");
  auto r = n.result(id);
  CHECK(r.body["code"] == "cancelled");
  CHECK(r.code_header == "499");
  // Cancelling what is final changes nothing.
  CHECK(n.request("mcp.tasks.cancel", {{"task_id", id}}).body["task"]["status"] == "cancelled");
  CHECK(n.get(id)["task"]["status"] == "cancelled");
}

TEST_CASE("tasks: a task that needs input shows the request and is answered through mcp.tasks.input") {
  Node n;
  const std::string id = n.start("everything", {{"tool", "simulate-research-query"},
                                                {"args", {{"topic", "jaguar"}, {"ambiguous", true}}},
                                                {"owner", "alice"}});
  REQUIRE(n.reaches(id, "input_required", "alice"));
  auto t = n.get(id, "alice")["task"];
  INFO(t.dump());
  CHECK(t["input_request"]["method"] == "elicitation/create");
  CHECK_THAT(t["input_request"]["params"]["message"].get<std::string>(), Catch::Contains("jaguar"));
  // Not waiting: a task that is working refuses input.
  auto answer = n.request("mcp.tasks.input", {{"task_id", id},
                                              {"owner", "alice"},
                                              {"response", {{"action", "accept"}, {"content", {{"interpretation", "the car"}}}}}});
  INFO(answer.body.dump());
  CHECK(answer.body["task"]["status"] == "working");
  CHECK_THAT(text_of(n.result(id, "alice")), Catch::Contains("the car"));
  auto again = n.request("mcp.tasks.input", {{"task_id", id}, {"owner", "alice"}, {"response", {{"action", "decline"}}}});
  CHECK(again.body["code"] == "invalid_request");
}

TEST_CASE("tasks: an emulated task turns progress into status events on the caller's subject") {
  Node n;
  Events events(*n.client, "progress.for.me");
  const std::string id =
      n.start("everything", {{"tool", "trigger-long-running-operation"},
                             {"args", {{"duration", 2}, {"steps", 4}}},
                             {"status_subject", "progress.for.me"}});
  CHECK_THAT(text_of(n.result(id)), Catch::Contains("Long running operation completed"));
  REQUIRE(wait_until([&] { return events.any([](const Json& e) { return e["task"]["status"] == "completed"; }); }, 5s));
  CHECK(events.any([](const Json& e) { return e.contains("progress") && e["progress"]["total"] == 4; }));
  CHECK(events.any([](const Json& e) { return e["task"].value("status_message", "").find("/4") != std::string::npos; }));
}

TEST_CASE("tasks: a failing tool keeps its error code in the task's result") {
  Node n;
  const std::string id = n.start("fake", {{"tool", "fail"}});
  auto r = n.result(id);
  INFO(r.body.dump());
  CHECK(r.body["code"] == "tool_error");
  CHECK(r.code_header == "422");
  CHECK(n.get(id)["task"]["status"] == "failed");
}

TEST_CASE("tasks: a task is visible only to its owner and anonymous tasks are never listed") {
  Node n;
  const std::string mine = n.start("fake", {{"tool", "echo"}, {"args", {{"message", "m"}}}, {"owner", "alice"}});
  const std::string by_session = n.start("fake", {{"tool", "echo"}, {"args", {{"message", "s"}}}, {"session_id", "s-1"}});
  const std::string anonymous = n.start("fake", {{"tool", "echo"}, {"args", {{"message", "a"}}}});
  CHECK(n.get(mine, "bob")["code"] == "not_found");
  CHECK(n.get(mine)["code"] == "not_found");
  CHECK(n.get(mine, "alice")["task"]["task_id"] == mine);
  CHECK(n.request("mcp.tasks.get", {{"task_id", by_session}, {"session_id", "s-1"}}).body["task"]["task_id"] == by_session);
  CHECK(n.request("mcp.tasks.cancel", {{"task_id", mine}, {"owner", "bob"}}).body["code"] == "not_found");
  CHECK(n.get(anonymous, "anyone")["task"]["task_id"] == anonymous);
  auto listed = n.request("mcp.tasks.list", {{"owner", "alice"}}).body;
  REQUIRE(listed["tasks"].size() == 1);
  CHECK(listed["tasks"][0]["task_id"] == mine);
  CHECK(n.request("mcp.tasks.list", {{"owner", "bob"}}).body["tasks"].empty());
  CHECK(n.request("mcp.tasks.list", Json::object()).body["tasks"].empty());
}

TEST_CASE("tasks: list pages with a cursor and filters by status") {
  Node n;
  std::set<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.insert(n.start("fake", {{"tool", "echo"}, {"args", {{"message", "x"}}}, {"owner", "p"}}));
  for (const auto& id : ids) REQUIRE(n.reaches(id, "completed", "p"));
  std::set<std::string> seen;
  Json body = {{"owner", "p"}, {"limit", 2}};
  for (int page = 0; page < 5; ++page) {
    auto r = n.request("mcp.tasks.list", body).body;
    INFO(r.dump());
    CHECK(r["tasks"].size() <= 2);
    for (auto& t : r["tasks"]) CHECK(seen.insert(t["task_id"].get<std::string>()).second);
    if (!r.contains("next_cursor")) break;
    body["cursor"] = r["next_cursor"];
  }
  CHECK(seen == ids);
  CHECK(n.request("mcp.tasks.list", {{"owner", "p"}, {"status", "completed"}}).body["tasks"].size() == 5);
  CHECK(n.request("mcp.tasks.list", {{"owner", "p"}, {"status", "working"}}).body["tasks"].empty());
}

TEST_CASE("tasks: a task is gone once its TTL passes and a TTL over the maximum is refused") {
  Node n("[tasks]\nmax_ttl_ms = 60000\nlease_ms = 600\n");
  const std::string id = n.start("fake", {{"tool", "echo"}, {"args", {{"message", "brief"}}}, {"task", {{"ttl_ms", 1500}}}});
  CHECK(text_of(n.result(id)) == "brief");
  CHECK(wait_until([&] { return n.get(id)["code"] == "not_found"; }, 10s, 200ms));
  auto r = n.request("mcp.fake.execute", {{"tool", "echo"}, {"task", {{"ttl_ms", 120000}}}});
  CHECK(r.body["code"] == "invalid_request");
  CHECK_THAT(r.body["error"].get<std::string>(), Catch::Contains("max_ttl_ms"));
}

TEST_CASE("tasks: unknown and malformed task ids are answered clearly") {
  Node n;
  CHECK(n.get(std::string(32, 'a'))["code"] == "not_found");
  CHECK(n.request("mcp.tasks.result", {{"task_id", std::string(32, 'b')}}).body["code"] == "not_found");
  CHECK(n.request("mcp.tasks.get", {{"task_id", "not-an-id"}}).body["code"] == "invalid_request");
  CHECK(n.request("mcp.tasks.get", Json::object()).body["code"] == "invalid_request");
  auto r = n.request("mcp.tasks.00000000000000000000000000000000.status", Json::object());
  CHECK(r.body["code"] == "invalid_request");
}

TEST_CASE("tasks: finished results survive a restart and a task the node was running when killed is failed") {
  Node n;
  const std::string done = n.start("fake", {{"tool", "echo"}, {"args", {{"message", "kept"}}}, {"owner", "r"}});
  CHECK(text_of(n.result(done, "r")) == "kept");
  const std::string running = n.start("fake", {{"tool", "sleep"}, {"args", {{"ms", 60000}}}, {"owner", "r"}});
  REQUIRE(n.reaches(running, "working", "r"));
  n.daemon->signal(SIGKILL);
  n.daemon->wait_exit();
  n.daemon->start();
  n.serving();
  CHECK(text_of(n.result(done, "r")) == "kept");
  auto t = n.get(running, "r")["task"];
  INFO(t.dump());
  CHECK(t["status"] == "failed");
  CHECK_THAT(t.value("status_message", ""), Catch::Contains("restarted"));
  CHECK(n.result(running, "r").body["code"] == "unavailable");
}

TEST_CASE("tasks: a result larger than the task store holds fails the task with too_large") {
  Node n;  // the default nats-server: max_payload 1 MiB, so the SQLite store takes records up to that
  const std::string id = n.start("fake", {{"tool", "big"}, {"args", {{"bytes", 1'500'000}}}});
  auto r = n.result(id);
  INFO(r.body.dump().substr(0, 300));
  CHECK(r.body["code"] == "too_large");
  CHECK_THAT(r.body.value("error", ""), Catch::Contains("larger than the task store holds"));
  CHECK(n.get(id)["task"]["status"] == "failed");
  // A result that fits is kept whole.
  const std::string fits = n.start("fake", {{"tool", "big"}, {"args", {{"bytes", 200'000}}}});
  CHECK(text_of(n.result(fits)).size() == 200'000);
}
