// Operating a node, end to end with the real mcpd, a real nats-server and the native fake MCP
// server: /metrics moves with calls and passes promtool, /healthz and /readyz follow NATS going
// away and coming back, progress notifications reach a progress_subject, and SIGHUP applies the
// config file's [[servers]] (and refuses a broken file).
#include "bus/connection.hpp"
#include "support/daemon_process.hpp"
#include "support/http_get.hpp"
#include "support/nats_server.hpp"
#include "support/test_support.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <regex>

using namespace mcpd;
using namespace mcpd::test;
using Json = nlohmann::json;

namespace {

std::string servers_toml(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names)
    out += "[[servers]]\nname = \"" + n + "\"\ncommand = \"" + fake_server_path() + "\"\nminSessions = 1\n";
  return out;
}

struct Node {
  NatsServer nats;
  std::unique_ptr<DaemonProcess> daemon;
  std::shared_ptr<bus::Connection> client;
  int http_port = 0;

  explicit Node(const std::string& body = servers_toml({"fake"}), NatsServerOptions nats_options = {})
      : nats(std::move(nats_options)) {
    bus::Options o;
    o.servers = {nats.url()};
    o.name = "test-client";
    client = bus::Connection::connect(o).value();
    daemon = std::make_unique<DaemonProcess>(config(body));
    daemon->wait_serving(*client);
    // Port 0 in the config: the log names the one it got.
    std::smatch m;
    const std::string log = daemon->log();
    const std::regex listening(R"(metrics and health on http://127\.0\.0\.1:(\d+))");
    if (!std::regex_search(log, m, listening)) FAIL("no metrics listener in the log:\n" << log);
    http_port = std::stoi(m[1]);
  }
  ~Node() {
    if (daemon) {
      daemon->signal(SIGTERM);
      daemon->wait_exit();
    }
  }
  std::string config(const std::string& body) const {
    return "[node]\nid = \"ops-node\"\n[nats]\nurl = \"" + nats.url() + "\"\n[metrics]\nlisten = \"127.0.0.1:0\"\n" + body;
  }

  std::optional<HttpResponse> get(const std::string& path) { return http_get(http_port, path); }
  std::string scrape() {
    auto r = get("/metrics");
    REQUIRE(r);
    REQUIRE(r->status == 200);
    CHECK_THAT(r->header("Content-Type"), Catch::StartsWith("text/plain; version=0.0.4"));
    return r->body;
  }
  Json call(const std::string& server, const Json& body) {
    auto r = client->request("mcp." + server + ".execute", body.dump(), 20s);
    if (!r.ok()) FAIL("request failed: " << r.error().message << "\nmcpd log:\n" << daemon->log());
    return Json::parse(r.value().data());
  }
};

// The value of one series (exact name and labels as mcpd writes them), 0 if absent.
double value(const std::string& page, const std::string& series) {
  std::istringstream in(page);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  return 0;
}

// promtool's verdict on a page: empty when it accepts it, else what it said.
std::string promtool_problems(const std::string& page, const std::filesystem::path& dir) {
  const auto file = dir / "metrics.txt";
  std::ofstream(file) << page;
  const std::string cmd = "promtool check metrics < " + file.string() + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p);
  std::string out;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p)) out += buf;
  const int rc = ::pclose(p);
  if (rc == 0) return {};
  return out.empty() ? "promtool failed (exit " + std::to_string(rc) + ")" : out;
}

}  // namespace

TEST_CASE("metrics count calls by server tool and code and a histogram moves and promtool accepts the page") {
  Node n;
  const std::string before = n.scrape();
  const std::string ok = R"(mcpd_calls_total{server="fake",tool="echo",code="ok"})";
  const std::string failed = R"(mcpd_calls_total{server="fake",tool="fail",code="tool_error"})";
  const std::string unknown = R"(mcpd_calls_total{server="fake",tool="_other",code="unknown_tool"})";
  const std::string count = R"(mcpd_call_duration_seconds_count{server="fake"})";
  const std::string slowest_bucket = R"(mcpd_call_duration_seconds_bucket{server="fake",le="+Inf"})";

  for (int i = 0; i < 3; ++i) CHECK(n.call("fake", {{"tool", "echo"}, {"args", {{"message", "hi"}}}})["result"] == "hi");
  CHECK(n.call("fake", {{"tool", "fail"}})["code"] == "tool_error");
  CHECK(n.call("fake", {{"tool", "no-such-tool-" + std::to_string(::getpid())}})["code"] == "unknown_tool");
  // A server that does not exist is not a series (its name is the caller's).
  CHECK(n.call("nosuch", {{"tool", "echo"}})["code"] == "invalid_request");

  const std::string after = n.scrape();
  INFO(after);
  CHECK(value(after, ok) - value(before, ok) == 3);
  CHECK(value(after, failed) - value(before, failed) == 1);
  CHECK(value(after, unknown) - value(before, unknown) == 1);
  CHECK(value(after, count) - value(before, count) == 5);
  CHECK(value(after, slowest_bucket) == value(after, count));
  CHECK(value(after, R"(mcpd_call_duration_seconds_sum{server="fake"})") > 0);
  CHECK(value(after, R"(mcpd_tool_call_duration_seconds_count{server="fake",tool="echo"})") >= 3);
  CHECK(after.find("server=\"nosuch\"") == std::string::npos);
  CHECK(after.find("no-such-tool") == std::string::npos);
  CHECK(value(after, R"(mcpd_requests_total{endpoint="execute"})") >= 6);
  CHECK(value(after, R"(mcpd_sessions{server="fake",state="ready"})") >= 1);
  CHECK(value(after, R"(mcpd_circuit_state{server="fake",state="closed"})") == 1);
  CHECK(value(after, "mcpd_nats_connected") == 1);
  CHECK(value(after, "mcpd_ready") == 1);
  CHECK(value(after, "mcpd_servers") == 1);
  CHECK(value(after, "process_resident_memory_bytes") > 1e6);
  CHECK(value(after, "process_open_fds") > 3);
  CHECK(after.find("mcpd_build_info{version=\"") != std::string::npos);
  CHECK(promtool_problems(after, n.daemon->dir()) == "");

  auto missing = n.get("/nope");
  REQUIRE(missing);
  CHECK(missing->status == 404);
  CHECK_THAT(missing->body, Catch::Contains("/metrics"));
}

TEST_CASE("healthz answers while the process runs and readyz turns 503 without NATS and 200 when it returns") {
  Node n;
  auto ready = n.get("/readyz");
  REQUIRE(ready);
  CHECK(ready->status == 200);
  auto health = n.get("/healthz");
  REQUIRE(health);
  CHECK(health->status == 200);

  n.nats.stop();
  std::string why;
  CHECK(wait_until(
      [&] {
        auto r = n.get("/readyz");
        if (!r || r->status != 503) return false;
        why = r->body;
        return true;
      },
      15s, 50ms));
  CHECK_THAT(why, Catch::Contains("not connected to NATS"));
  auto still = n.get("/healthz");
  REQUIRE(still);
  CHECK(still->status == 200);
  CHECK(value(n.scrape(), "mcpd_nats_connected") == 0);

  n.nats.start();
  CHECK(wait_until(
      [&] {
        auto r = n.get("/readyz");
        return r && r->status == 200;
      },
      20s, 50ms));
  const std::string page = n.scrape();
  CHECK(value(page, "mcpd_nats_connected") == 1);
  CHECK(value(page, "mcpd_nats_reconnects_total") >= 1);
  // And it serves again.
  CHECK(wait_until([&] { return n.client->connected(); }, 20s));
  CHECK(n.call("fake", {{"tool", "echo"}, {"args", {{"message", "back"}}}})["result"] == "back");
}

TEST_CASE("progress notifications of a call reach its progress_subject and a subject of mcpd is refused") {
  Node n;
  std::mutex mu;
  std::vector<Json> events;
  auto sub = n.client
                 ->subscribe("progress.ops-test",
                             [&](bus::Message m) {
                               std::lock_guard lock(mu);
                               events.push_back(Json::parse(m.data(), nullptr, false));
                             })
                 .value();
  REQUIRE(n.client->flush(5s).ok());
  auto reply = n.call("fake", {{"tool", "progress"},
                               {"args", {{"steps", 3}, {"interval_ms", 20}}},
                               {"progress_subject", "progress.ops-test"},
                               {"request_id", "r-progress"}});
  CHECK(reply["result"] == "done");
  // Published before the reply; delivered to this subscription in order.
  CHECK(wait_until([&] {
    std::lock_guard lock(mu);
    return events.size() >= 3;
  }));
  std::lock_guard lock(mu);
  REQUIRE(events.size() == 3);
  for (int i = 0; i < 3; ++i) {
    INFO(events[i].dump());
    CHECK(events[i]["progress"] == i + 1);
    CHECK(events[i]["total"] == 3);
    CHECK(events[i]["request_id"] == "r-progress");
  }
  for (const char* bad : {"mcp.servers.created", "$SRV.PING", "progress.*"}) {
    auto r = n.call("fake", {{"tool", "echo"}, {"args", {{"message", "x"}}}, {"progress_subject", bad}});
    INFO(r.dump());
    CHECK(r["code"] == "invalid_request");
    CHECK_THAT(r["error"].get<std::string>(), Catch::Contains("progress_subject"));
  }
}

TEST_CASE("SIGHUP applies the config file's servers and a broken file changes nothing") {
  Node n(servers_toml({"fake", "gone"}));
  Slot<std::string> created, deleted;
  auto sub_c = n.client->subscribe("mcp.servers.created", [cb = created.callback()](bus::Message m) { cb(std::string(m.data())); }).value();
  auto sub_d = n.client->subscribe("mcp.servers.deleted", [cb = deleted.callback()](bus::Message m) { cb(std::string(m.data())); }).value();
  REQUIRE(n.client->flush(5s).ok());
  CHECK(n.call("gone", {{"tool", "echo"}, {"args", {{"message", "here"}}}})["result"] == "here");

  n.daemon->rewrite_config(n.config("[log]\nlevel = \"debug\"\n" + servers_toml({"fake", "added"})));
  n.daemon->signal(SIGHUP);
  REQUIRE(wait_until([&] { return n.daemon->log().find("SIGHUP: config file") != std::string::npos; }, 20s));
  const std::string log = n.daemon->log();
  CHECK_THAT(log, Catch::Contains("servers added: added; changed: none; removed: gone"));
  CHECK_THAT(log, Catch::Contains("log level debug"));
  CHECK(Json::parse(created.get())["name"] == "added");
  CHECK(Json::parse(deleted.get())["name"] == "gone");
  CHECK(n.call("added", {{"tool", "echo"}, {"args", {{"message", "new"}}}})["result"] == "new");
  auto gone = n.call("gone", {{"tool", "echo"}});
  CHECK(gone["code"] == "invalid_request");
  CHECK_THAT(gone["error"].get<std::string>(), Catch::Contains("no MCP server named 'gone'"));

  n.daemon->rewrite_config(n.config("[limits]\nbogus_key = 1\n"));
  n.daemon->signal(SIGHUP);
  REQUIRE(wait_until([&] { return n.daemon->log().find("was not applied") != std::string::npos; }, 20s));
  CHECK_THAT(n.daemon->log(), Catch::Contains("bogus_key"));
  CHECK(n.call("added", {{"tool", "echo"}, {"args", {{"message", "still"}}}})["result"] == "still");
  CHECK(n.call("fake", {{"tool", "echo"}, {"args", {{"message", "still"}}}})["result"] == "still");
}

TEST_CASE("json logs are one valid object per line with the call's fields and trace context reaches the server") {
  Node n("[log]\nformat = \"json\"\nlevel = \"debug\"\n" + servers_toml({"fake"}));
  const std::string traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  auto r = n.client->request("mcp.fake.execute", Json{{"tool", "meta"}, {"request_id", "r-json"}}.dump(), 20s,
                             {{"traceparent", traceparent}, {"tracestate", "vendor=1"}});
  REQUIRE(r.ok());
  auto reply = Json::parse(r.value().data());
  INFO(reply.dump());
  CHECK(reply["request_id"] == "r-json");
  auto meta = Json::parse(reply["result"].get<std::string>());
  CHECK(meta["traceparent"] == traceparent);
  CHECK(meta["tracestate"] == "vendor=1");
  // A malformed traceparent is not passed on.
  auto bad = n.client->request("mcp.fake.execute", Json{{"tool", "meta"}}.dump(), 20s, {{"traceparent", "evil"}});
  REQUIRE(bad.ok());
  auto bad_reply = Json::parse(bad.value().data());
  CHECK(bad_reply["result"] == "{}");
  // Without a request_id the node makes one, and says it.
  CHECK_THAT(bad_reply["request_id"].get<std::string>(), Catch::Matches("mcpd-[0-9a-f]{16}"));
  // A child's stderr that is not UTF-8.
  CHECK(n.call("fake", {{"tool", "stderr"}, {"args", {{"line", "bytes:"}, {"hex", "ff41c3"}}}})["result"] == "ok");

  Json call_line, stderr_line;
  REQUIRE(wait_until([&] {
    std::istringstream log(n.daemon->log());
    for (std::string line; std::getline(log, line);) {
      if (line.empty() || line.front() != '{') continue;  // not mcpd's (the test's own output)
      Json j = Json::parse(line, nullptr, false);  // refuses invalid UTF-8 too
      if (j.is_discarded()) FAIL("not a JSON object: " << line);
      if (j.value("request_id", "") == "r-json" && j.contains("duration_ms")) call_line = j;
      if (j.value("msg", "").find("stderr: bytes:") != std::string::npos) stderr_line = j;
    }
    return !call_line.is_null() && !stderr_line.is_null();
  }));
  INFO(call_line.dump());
  CHECK(call_line["level"] == "debug");
  CHECK(call_line["node"] == "ops-node");
  CHECK(call_line["server"] == "fake");
  CHECK(call_line["tool"] == "meta");
  CHECK(call_line["code"] == "ok");
  CHECK(call_line["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(call_line["duration_ms"].get<double>() >= 0);
  CHECK_THAT(call_line["ts"].get<std::string>(), Catch::Matches(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)"));
  CHECK(stderr_line["server"] == "fake");
  // Each stray byte as the text \xNN; valid text as it was.
  CHECK_THAT(stderr_line["msg"].get<std::string>(), Catch::EndsWith("stderr: bytes:\\xffA\\xc3"));
}

TEST_CASE("stats of a node with more servers than one NATS message holds still answer and count them all") {
  TempDir conf;
  std::ofstream(conf.path() / "nats.conf") << "max_payload: 16384\n";
  NatsServerOptions small;
  small.extra_args = {"-c", (conf.path() / "nats.conf").string()};
  std::string many;
  for (int i = 0; i < 150; ++i)
    many += "[[servers]]\nname = \"lazy-" + std::to_string(100 + i) + "\"\ncommand = \"" + fake_server_path() +
            "\"\nminSessions = 0\n";
  Node n(many, small);
  auto r = n.client->request("$SRV.STATS.mcpd", "", 10s);
  REQUIRE(r.ok());
  CHECK(r.value().data().size() <= 16384);
  Json stats = Json::parse(r.value().data());
  INFO(stats["data"].dump().substr(0, 400));
  CHECK(stats["data"]["server_count"] == 150);
  CHECK(stats["data"]["servers_truncated"].get<int>() > 0);
  CHECK(stats["data"]["servers_shown"].get<std::size_t>() == stats["data"]["servers"].size());
  CHECK(stats["data"]["servers"].contains("lazy-100"));
  // And the admin list pages within the same bound.
  auto list = n.client->request("mcp.admin.servers.list", "{}", 10s);
  REQUIRE(list.ok());
  Json page = Json::parse(list.value().data());
  CHECK(page["total"] == 150);
  CHECK(page.contains("next_cursor"));
}
