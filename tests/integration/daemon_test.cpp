// The mcpd daemon end to end: a real nats-server, the real mcpd binary, the native fake MCP
// server and the npm reference servers. Every subject, every error code a caller can provoke,
// bad input, isolation, crash recovery, event ordering, and a graceful SIGTERM.
#include "bus/connection.hpp"
#include "support/daemon_process.hpp"
#include "support/nats_server.hpp"
#include "support/proc_stats.hpp"
#include "support/test_support.hpp"
#include "transport/process_group.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <sys/socket.h>
#include <sys/un.h>
#include <future>
#include <fstream>
#include <set>

using namespace mcpd;
using namespace mcpd::test;
using Json = nlohmann::json;

namespace {

struct Reply {
  Json body;
  std::optional<std::string> error_header, code_header;
};

NatsServerOptions big_payload_nats(const std::filesystem::path& dir) {
  auto conf = dir / "nats.conf";
  std::ofstream(conf) << "max_payload: 8388608\n";
  NatsServerOptions o;
  o.extra_args = {"-c", conf.string()};
  return o;
}

std::string fake_servers() {
  const std::string fake = fake_server_path();
  return R"(
[[servers]]
name = "fake"
command = ")" + fake + R"("
minSessions = 1
maxSessions = 2

[[servers]]
name = "tight"
command = ")" + fake + R"("
minSessions = 1
maxSessions = 1
maxInflightPerSession = 1
maxQueue = 0

[[servers]]
name = "broken"
command = "/nonexistent/mcp-server"
minSessions = 0
)";
}

struct Node {
  TempDir scratch;
  NatsServer nats{big_payload_nats(scratch.path())};
  std::unique_ptr<DaemonProcess> daemon;
  std::shared_ptr<bus::Connection> client;

  explicit Node(const std::string& extra_toml = "", const std::string& servers = fake_servers()) {
    bus::Options o;
    o.servers = {nats.url()};
    o.name = "test-client";
    client = bus::Connection::connect(o).value();
    daemon = std::make_unique<DaemonProcess>("[node]\nid = \"test-node\"\n[nats]\nurl = \"" + nats.url() + "\"\n" +
                                             extra_toml + servers);
    daemon->wait_serving(*client);
  }
  ~Node() {
    if (daemon) {
      daemon->signal(SIGTERM);
      daemon->wait_exit();
    }
  }

  Reply request(const std::string& subject, const std::string& body, std::chrono::milliseconds timeout = 20s) {
    auto r = client->request(subject, body, timeout);
    if (!r.ok()) FAIL("request to " << subject << " failed: " << r.error().message << "\nmcpd log:\n" << daemon->log());
    Reply out;
    out.body = Json::parse(r.value().data(), nullptr, false);
    out.error_header = r.value().header("Nats-Service-Error");
    out.code_header = r.value().header("Nats-Service-Error-Code");
    return out;
  }
  Reply call(const std::string& server, Json body, std::chrono::milliseconds timeout = 20s) {
    return request("mcp." + server + ".execute", body.dump(), timeout);
  }
  std::string text(const std::string& server, Json body) {
    auto r = call(server, std::move(body));
    if (!r.body.contains("result")) FAIL("no result: " << r.body.dump());
    return r.body["result"].is_string() ? r.body["result"].get<std::string>() : r.body["result"].dump();
  }
};

void check_error(const Reply& r, const std::string& code, const std::string& fragment) {
  INFO(r.body.dump());
  CHECK(r.body["code"] == code);
  CHECK_THAT(r.body["error"].get<std::string>(), Catch::Contains(fragment, Catch::CaseSensitive::No));
  REQUIRE(r.error_header);
  CHECK(*r.error_header == r.body["error"].get<std::string>());
  CHECK(r.code_header.has_value());
}

}  // namespace

TEST_CASE("execute answers in the compat and mcp formats and list-tools lists every tool") {
  Node n;
  auto r = n.call("fake", {{"tool", "echo"}, {"args", {{"message", "hello"}}}, {"request_id", "r-1"}});
  CHECK(r.body["result"] == "hello");
  CHECK(r.body["request_id"] == "r-1");
  CHECK_FALSE(r.error_header);
  auto sum = n.call("fake", {{"tool", "add"}, {"args", {{"a", 2}, {"b", 3}}}});
  CHECK(sum.body["result"] == Json{{"sum", 5}});  // structuredContent wins in compat
  auto image = n.call("fake", {{"tool", "image"}, {"format", "mcp"}});
  CHECK(image.body["result"]["content"][0]["type"] == "image");
  CHECK(image.body["result"]["content"][0]["mimeType"] == "image/png");
  auto tools = n.request("mcp.fake.list-tools", "{}");
  REQUIRE(tools.body["tools"].is_array());
  std::set<std::string> names;
  for (auto& t : tools.body["tools"]) names.insert(t["name"].get<std::string>());
  CHECK(names.count("echo") == 1);
  CHECK(names.count("counter") == 1);
  auto empty_body = n.request("mcp.fake.list-tools", "");
  CHECK(empty_body.body["tools"].size() == tools.body["tools"].size());
}

TEST_CASE("tool errors unknown tools timeouts overload and unavailable servers each get their code") {
  Node n;
  check_error(n.call("fake", {{"tool", "fail"}}), "tool_error", "tool failed on purpose");
  auto mcp_format = n.call("fake", {{"tool", "fail"}, {"format", "mcp"}});
  CHECK(mcp_format.body["result"]["isError"] == true);  // nothing dropped in the mcp format
  check_error(n.call("fake", {{"tool", "no_such_tool"}}), "unknown_tool", "no_such_tool");
  // The server refusing the arguments (JSON-RPC -32602) is the caller's error, not mcpd's.
  check_error(n.call("fake", {{"tool", "add"}, {"args", {{"a", "one"}, {"b", 2}}}}), "invalid_request",
              "a, b must be numbers");
  check_error(n.call("fake", {{"tool", "sleep"}, {"args", {{"ms", 5000}}}, {"timeout_ms", 200}}), "timeout", "timed out");
  check_error(n.call("broken", {{"tool", "echo"}}), "unavailable", "/nonexistent/mcp-server");
  auto tools = n.request("mcp.broken.list-tools", "{}");
  CHECK(tools.body["tools"] == Json::array());
  check_error(tools, "unavailable", "cannot start");

  // tight: one session, one call at a time, no queue.
  REQUIRE(n.text("tight", {{"tool", "echo"}, {"args", {{"message", "warm"}}}}) == "warm");
  auto slow = std::async(std::launch::async, [&] { return n.call("tight", {{"tool", "sleep"}, {"args", {{"ms", 800}}}}); });
  REQUIRE(wait_until([&] { return n.daemon->log().find("sleeping 800 ms") != std::string::npos; }));
  check_error(n.call("tight", {{"tool", "echo"}, {"args", {{"message", "x"}}}}), "overloaded", "overloaded");
  CHECK(slow.get().body["result"] == "slept 800");
}

TEST_CASE("bad input gets a clear invalid_request and the node keeps serving") {
  Node n;
  check_error(n.request("mcp.fake.execute", "{not json"), "invalid_request", "not valid JSON");
  check_error(n.call("fake", {{"tool", 5}}), "invalid_request", "tool");
  check_error(n.call("fake", {{"args", {{"message", "no tool"}}}}), "invalid_request", "tool");
  check_error(n.call("fake", {{"tool", "echo"}, {"args", "not an object"}}), "invalid_request", "args");
  check_error(n.call("fake", {{"tool", "echo"}, {"timeout_ms", "soon"}}), "invalid_request", "timeout_ms");
  check_error(n.call("nosuch", {{"tool", "echo"}}), "invalid_request", "no MCP server named 'nosuch'");
  check_error(n.request("mcp.a.b.execute", "{}"), "invalid_request", "may not contain '.'");
  check_error(n.request("mcp.fake.explode", "{}"), "invalid_request", "unknown subject");
  check_error(n.request("mcp.admin.servers.put", R"({"name":"admin","command":"x"})"), "invalid_request", "reserved");
  for (const char* bad : {"a.b", "a*", "a>", "has space", "UPPER"}) {
    Json server = {{"name", bad}, {"command", "x"}};
    check_error(n.request("mcp.admin.servers.put", server.dump()), "invalid_request", "name");
  }
  check_error(n.request("mcp.admin.servers.put", R"({"name":"x"})"), "invalid_request", "command");
  // A 2 MB body (the test's nats-server accepts it; mcpd's own limit is 1 MiB).
  Json big = {{"tool", "echo"}, {"args", {{"message", std::string(2 << 20, 'x')}}}};
  check_error(n.request("mcp.fake.execute", big.dump()), "too_large", "bytes");
  CHECK(n.text("fake", {{"tool", "echo"}, {"args", {{"message", "still serving"}}}}) == "still serving");
}

TEST_CASE("limits json_max_depth bounds request bodies and what a server answers") {
  Node n("[limits]\njson_max_depth = 16\n");
  auto nested = [](std::size_t levels) { return std::string(levels, '[') + std::string(levels, ']'); };
  // The body and args are 2 levels: 14 arrays fit, 15 do not.
  const std::string head = R"({"tool":"echo","args":{"message":"x","a":)";
  check_error(n.request("mcp.fake.execute", head + nested(15) + "}}"), "invalid_request",
              "JSON nesting deeper than 16 levels");
  check_error(n.request("mcp.fake.execute", head + nested(100000) + "}}"), "invalid_request",
              "JSON nesting deeper than 16 levels");
  CHECK(n.request("mcp.fake.execute", head + nested(14) + "}}").body["result"] == "x");
  // The server's answer: envelope, result and structuredContent are 3 levels, and then the arrays.
  check_error(n.call("fake", {{"tool", "deep"}, {"args", {{"levels", 14}}}}), "too_large",
              "the answer to tools/call was refused: JSON nesting deeper than 16 levels");
  check_error(n.call("fake", {{"tool", "deep"}, {"args", {{"levels", 100000}}}}), "too_large", "deeper than 16 levels");
  CHECK(n.call("fake", {{"tool", "deep"}, {"args", {{"levels", 13}}}}).body["result"]["deep"].is_array());
  CHECK(n.text("fake", {{"tool", "echo"}, {"args", {{"message", "still serving"}}}}) == "still serving");
}

TEST_CASE("admin API puts gets lists and deletes servers and publishes events") {
  Node n;
  Slot<std::string> created, deleted;
  auto sub_c = n.client->subscribe("mcp.servers.created", [cb = created.callback()](bus::Message m) { cb(std::string(m.data())); }).value();
  auto sub_d = n.client->subscribe("mcp.servers.deleted", [cb = deleted.callback()](bus::Message m) { cb(std::string(m.data())); }).value();
  Json server = {{"name", "added"}, {"command", fake_server_path()}, {"env", {{"GREETING", "hi"}}}};
  auto put = n.request("mcp.admin.servers.put", server.dump());
  REQUIRE(put.body.contains("server"));
  CHECK(put.body["server"]["name"] == "added");
  CHECK(put.body["server"]["revision"].get<int>() > 0);
  Json event = Json::parse(created.get());
  CHECK(event["name"] == "added");
  CHECK(event["revision"] == put.body["server"]["revision"]);
  CHECK(n.text("added", {{"tool", "echo"}, {"args", {{"message", "new server"}}}}) == "new server");

  auto got = n.request("mcp.admin.servers.get", R"({"name":"added"})");
  CHECK(got.body["server"]["command"] == fake_server_path());
  auto list = n.request("mcp.admin.servers.list", "{}");
  std::set<std::string> names;
  for (auto& s : list.body["servers"]) names.insert(s["name"].get<std::string>());
  CHECK(names == std::set<std::string>{"added", "broken", "fake", "tight"});

  auto del = n.request("mcp.admin.servers.delete", R"({"name":"added"})");
  CHECK(del.body["deleted"] == "added");
  CHECK(Json::parse(deleted.get())["name"] == "added");
  check_error(n.call("added", {{"tool", "echo"}}), "invalid_request", "no MCP server named");
  check_error(n.request("mcp.admin.servers.get", R"({"name":"added"})"), "invalid_request", "no MCP server named");
}

TEST_CASE("session isolation over NATS: two session ids keep separate state and no session id shares") {
  Node n;
  auto count = [&](std::optional<std::string> sid) {
    Json body = {{"tool", "counter"}};
    if (sid) body["session_id"] = *sid;
    return n.text("fake", body);
  };
  CHECK(count("alice") == "1");
  CHECK(count("alice") == "2");
  CHECK(count("bob") == "1");
  CHECK(count("alice") == "3");
  CHECK(count(std::nullopt) == "1");
  CHECK(count(std::nullopt) == "2");
}

TEST_CASE("a killed child is replaced and calls succeed again within seconds") {
  Node n;
  int pid = std::stoi(n.text("tight", {{"tool", "pid"}}));
  REQUIRE(::kill(pid, SIGKILL) == 0);
  auto start = std::chrono::steady_clock::now();
  bool back = wait_until(
      [&] {
        auto r = n.call("tight", {{"tool", "pid"}});
        return r.body.contains("result") && r.body["result"] != std::to_string(pid);
      },
      15s, 50ms);
  CHECK(back);
  CHECK(std::chrono::steady_clock::now() - start < 5s);
}

TEST_CASE("an out-of-order created and deleted pair ends in the newest state") {
  Node n;
  const std::string fake = fake_server_path();
  Json newer_delete = {{"name", "late"}, {"revision", 1000}};
  Json older_create = {{"name", "late"}, {"command", fake}, {"revision", 999}};
  REQUIRE(n.client->publish("mcp.servers.deleted", newer_delete.dump()).ok());
  REQUIRE(n.client->publish("mcp.servers.created", older_create.dump()).ok());
  REQUIRE(n.client->flush(2s).ok());
  // A marker event after them: once it is applied, so are they (events are applied in order).
  REQUIRE(n.client->publish("mcp.servers.created", Json{{"name", "marker"}, {"command", fake}, {"revision", 1001}}.dump())
              .ok());
  REQUIRE(wait_until([&] { return n.request("mcp.admin.servers.get", R"({"name":"marker"})").body.contains("server"); }));
  CHECK_FALSE(n.request("mcp.admin.servers.get", R"({"name":"late"})").body.contains("server"));
  REQUIRE(n.client->publish("mcp.servers.created", Json{{"name", "late"}, {"command", fake}, {"revision", 1002}}.dump())
              .ok());
  CHECK(wait_until([&] { return n.request("mcp.admin.servers.get", R"({"name":"late"})").body.contains("server"); }));
  CHECK(n.text("late", {{"tool", "echo"}, {"args", {{"message", "alive"}}}}) == "alive");
}

TEST_CASE("SIGTERM while slow calls are in flight: all complete and no child survives") {
  Node n;
  std::set<int> pids;
  for (int i = 0; i < 8; ++i) pids.insert(std::stoi(n.text("fake", {{"tool", "pid"}})));
  pids.insert(std::stoi(n.text("fake", {{"tool", "pid"}, {"session_id", "s1"}})));
  std::vector<std::future<Reply>> calls;
  for (int i = 0; i < 5; ++i)
    calls.push_back(std::async(std::launch::async, [&] { return n.call("fake", {{"tool", "sleep"}, {"args", {{"ms", 1500}}}}); }));
  // The fake server logs each sleep as it starts; mcpd copies child stderr into its log.
  auto started = [&] {
    std::string log = n.daemon->log();
    std::size_t count = 0;
    for (auto at = log.find("sleeping 1500 ms"); at != std::string::npos; at = log.find("sleeping 1500 ms", at + 1)) ++count;
    return count;
  };
  REQUIRE(wait_until([&] { return started() == 5; }));
  n.daemon->signal(SIGTERM);
  for (auto& c : calls) CHECK(c.get().body["result"] == "slept 1500");
  auto status = n.daemon->wait_exit(30s);
  REQUIRE(status);
  CHECK(*status == 0);
  for (int pid : pids) CHECK_FALSE(transport::process_alive(pid));
  n.daemon.reset();
}

TEST_CASE("deleting a server cancels the calls still running after the drain timeout") {
  Node n("[defaults]\ndrain_timeout_ms = 300\n");
  auto slow = std::async(std::launch::async, [&] { return n.call("fake", {{"tool", "sleep"}, {"args", {{"ms", 10000}}}}); });
  REQUIRE(wait_until([&] { return n.daemon->log().find("sleeping 10000 ms") != std::string::npos; }));
  auto start = std::chrono::steady_clock::now();
  CHECK(n.request("mcp.admin.servers.delete", R"({"name":"fake"})").body["deleted"] == "fake");
  check_error(slow.get(), "cancelled", "cancelled");
  CHECK(std::chrono::steady_clock::now() - start < 5s);
}

TEST_CASE("mcpd tells systemd when it is serving and when it stops") {
  TempDir dir;
  const std::string path = (dir.path() / "notify.sock").string();
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  ::setenv("NOTIFY_SOCKET", path.c_str(), 1);
  std::string received;
  {
    Node n;
    ::unsetenv("NOTIFY_SOCKET");
    auto read_all = [&] {
      char buf[512];
      for (;;) {
        ssize_t k = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (k <= 0) break;
        received.append(buf, static_cast<std::size_t>(k)).push_back('\n');
      }
      return received;
    };
    CHECK(wait_until([&] { return read_all().find("READY=1") != std::string::npos; }));
    n.daemon->signal(SIGTERM);
    CHECK(n.daemon->wait_exit() == 0);
    CHECK(wait_until([&] { return read_all().find("STOPPING=1") != std::string::npos; }));
  }
  ::close(fd);
  CHECK_THAT(received, Catch::Contains("STATUS=serving"));
}

TEST_CASE("each node answers the NATS service-discovery protocol with its servers and counters") {
  Node n;
  REQUIRE(n.text("fake", {{"tool", "echo"}, {"args", {{"message", "count me"}}}}) == "count me");
  for (const char* subject : {"$SRV.PING", "$SRV.PING.mcpd", "$SRV.PING.mcpd.test-node"}) {
    auto ping = n.request(subject, "");
    CHECK(ping.body["type"] == "io.nats.micro.v1.ping_response");
    CHECK(ping.body["name"] == "mcpd");
    CHECK(ping.body["id"] == "test-node");
  }
  auto info = n.request("$SRV.INFO.mcpd", "");
  CHECK(info.body["type"] == "io.nats.micro.v1.info_response");
  std::set<std::string> endpoints;
  for (auto& e : info.body["endpoints"]) endpoints.insert(e["subject"].get<std::string>());
  CHECK(endpoints.count("mcp.*.execute") == 1);
  auto stats = n.request("$SRV.STATS.mcpd.test-node", "");
  CHECK(stats.body["type"] == "io.nats.micro.v1.stats_response");
  bool counted = false;
  for (auto& e : stats.body["endpoints"])
    if (e["name"] == "execute") counted = e["num_requests"].get<int>() >= 1;
  CHECK(counted);
  CHECK(stats.body["data"]["servers"]["fake"]["sessions_ready"].get<int>() >= 1);
  CHECK(stats.body["data"]["servers"]["broken"]["sessions_ready"] == 0);
}

TEST_CASE("a hundred servers in the catalog start in parallel") {
  // Each fake server takes 300 ms to answer initialize: started one after another, a hundred
  // would need 30 s; in parallel they are all ready in about one start time.
  std::string servers;
  for (int i = 0; i < 100; ++i)
    servers += "[[servers]]\nname = \"s" + std::to_string(i) + "\"\ncommand = \"" + fake_server_path() +
               "\"\nargs = [\"--init-delay-ms=300\"]\nminSessions = 1\npingIntervalSeconds = 0\n";
  auto start = std::chrono::steady_clock::now();
  Node n("", servers);
  auto all_ready = [&] {
    auto stats = n.request("$SRV.STATS.mcpd.test-node", "");
    int ready = 0;
    for (auto& [name, s] : stats.body["data"]["servers"].items()) ready += s["sessions_ready"].get<int>() >= 1;
    return ready == 100;
  };
  REQUIRE(wait_until(all_ready, 25s, 100ms));
  INFO("all 100 ready after " << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count() << " ms");
  CHECK(std::chrono::steady_clock::now() - start < 15s);
  CHECK(n.text("s99", {{"tool", "echo"}, {"args", {{"message", "last"}}}}) == "last");
}

TEST_CASE("a server flooding stderr is logged within its budget and keeps answering") {
  Node n("[defaults]\nstderr_log_lines_per_minute = 20\n");
  auto flood = n.call("fake", {{"tool", "stderr"}, {"args", {{"line", "flood-line"}, {"count", 2000}}}});
  CHECK(flood.body.value("result", "") == "ok");
  // The call's answer may overtake the last stderr lines: wait for the notice.
  REQUIRE(wait_until([&] { return n.daemon->log().find("lines this minute; the rest are counted") != std::string::npos; },
                     std::chrono::seconds(10)));
  const std::string log = n.daemon->log();
  std::size_t logged = 0;
  for (auto at = log.find("stderr: flood-line"); at != std::string::npos; at = log.find("stderr: flood-line", at + 1)) ++logged;
  INFO("flood lines logged: " << logged);
  CHECK(logged >= 1);
  CHECK(logged <= 20);  // the fake server's own start-up lines share the budget
  CHECK_THAT(log, Catch::Contains("[fake#1] stderr: more than 20 lines this minute"));
  CHECK(n.text("fake", {{"tool", "echo"}, {"args", {{"message", "still here"}}}}) == "still here");
}

TEST_CASE("maxMessageBytes: an answer over it fails with too_large and the session goes on") {
  const std::string fake = fake_server_path();
  const std::string everything = npm_bin("mcp-server-everything");
  Node n("", R"(
[[servers]]
name = "small"
command = ")" + fake + R"("
maxMessageBytes = 65536

[[servers]]
name = "everything"
command = ")" + everything + R"("
maxMessageBytes = 65536
)");
  const Json pid = {{"tool", "pid"}, {"session_id", "s"}};
  const std::string before = n.text("small", pid);

  // The answer names its id first (the fake server): that call fails, the session stays.
  check_error(n.call("small", {{"tool", "big"}, {"args", {{"bytes", 100000}}}, {"session_id", "s"}}), "too_large",
              "over its maxMessageBytes (65536)");
  CHECK(n.text("small", pid) == before);
  CHECK(n.text("small", {{"tool", "big"}, {"args", {{"bytes", 60000}}}, {"session_id", "s"}}).size() == 60000);

  // A notification over the limit is dropped; the call that caused it is answered.
  CHECK(n.text("small", {{"tool", "noise"}, {"args", {{"bytes", 100000}}}, {"session_id", "s"}}) == "noise sent");
  CHECK(n.text("small", pid) == before);

  // A line that answers nothing it can be matched to: the server is stopped and the calls
  // still in flight fail with too_large (any of them may have been the one); the next call
  // gets a new session.
  auto sleeping = std::async(std::launch::async, [&] {
    return n.call("small", {{"tool", "sleep"}, {"args", {{"ms", 5000}}}, {"session_id", "s"}});
  });
  REQUIRE(wait_until([&] { return n.daemon->log().find("stderr: sleeping 5000 ms") != std::string::npos; }));
  auto garbage = n.call("small", {{"tool", "noise"}, {"args", {{"bytes", 100000}, {"garbage", true}}}, {"session_id", "s"}});
  CHECK(garbage.body.value("result", "") == "noise sent");  // its answer came right behind the line
  check_error(sleeping.get(), "too_large", "cannot be matched to a request");
  auto after = n.call("small", pid);
  INFO(after.body.dump());
  REQUIRE(after.body.contains("result"));
  CHECK(after.body["result"] != before);
  CHECK(after.body.value("session_reset", false));

  // server-everything (the TypeScript SDK) writes the id last: found at the end of the line.
  check_error(n.call("everything", {{"tool", "echo"}, {"args", {{"message", std::string(100000, 'e')}}}}), "too_large",
              "maxMessageBytes");
  CHECK(n.text("everything", {{"tool", "echo"}, {"args", {{"message", "after"}}}}) == "Echo: after");
  CHECK_THAT(n.daemon->log(), !Catch::Contains("[everything#1] process"));  // never restarted
}

TEST_CASE("[node] max_live_processes: servers used in turn share the node's processes") {
  // Four servers started on first use (minSessions 0), at most two processes on the node: each
  // server's call stops the least recently used idle one, and every call is answered.
  TempDir scratch;
  NatsServer nats;
  std::string servers;
  for (const char* name : {"s1", "s2", "s3", "s4"})
    servers += std::string("\n[[servers]]\nname = \"") + name + "\"\ncommand = \"" + fake_server_path() +
               "\"\nminSessions = 0\n";
  DaemonProcess daemon("[node]\nid = \"test-node\"\nmax_live_processes = 2\n[nats]\nurl = \"" + nats.url() + "\"\n" +
                       servers);
  bus::Options o;
  o.servers = {nats.url()};
  auto client = bus::Connection::connect(o).value();
  daemon.wait_serving(*client);
  std::set<std::string> pids;
  int most = 0;
  for (int round = 0; round < 3; ++round) {
    for (const char* name : {"s1", "s2", "s3", "s4"}) {
      auto r = client->request(std::string("mcp.") + name + ".execute", R"({"tool":"pid"})", 20s);
      REQUIRE(r.ok());
      Json body = Json::parse(r.value().data());
      INFO(name << " answered " << body.dump() << "\nmcpd log:\n" << daemon.log());
      REQUIRE(body.contains("result"));
      pids.insert(body["result"].get<std::string>());
      most = std::max(most, static_cast<int>(descendants(daemon.pid()).size()));
    }
  }
  CHECK(most <= 2 + 1);  // two servers, and at most one on its way out while its successor starts
  CHECK(pids.size() == 12);  // every call found its server's process stopped since and started anew
  CHECK_THAT(daemon.log(), Catch::Contains("the node needs its place for another session"));
  daemon.signal(SIGTERM);
  daemon.wait_exit();
}
