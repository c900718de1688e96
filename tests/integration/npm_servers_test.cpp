// ClientSession against the real reference MCP servers from the npm registry, pinned in
// tests/package-lock.json: server-everything and server-filesystem over stdio.
#include "mcp/client_session.hpp"
#include "mcp/protocol.hpp"
#include "transport/process_group.hpp"
#include "transport/stdio_transport.hpp"
#include "support/test_support.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <set>

using namespace mcpd;
using namespace mcpd::mcp;
using namespace mcpd::test;

namespace {

struct NpmServer {
  io::Loop loop{2};
  std::shared_ptr<transport::StdioTransport> transport;
  std::shared_ptr<ClientSession> s;

  NpmServer(const std::string& name, const std::string& bin, std::vector<std::string> args) {
    transport::StdioOptions o;
    o.name = name;
    o.command = npm_bin(bin);
    o.args = std::move(args);
    transport = transport::make_stdio_transport(loop.make_strand(), o);
    SessionOptions so;
    so.name = name;
    so.request_timeout = 20s;
    s = ClientSession::create(transport, so);
    Slot<Result<ServerDescription>> ready;
    s->start(ready.callback());
    auto r = ready.get(60s);
    if (!r.ok()) FAIL("cannot open " << name << ": " << r.error().message);
  }
  ~NpmServer() {
    Slot<bool> done;
    s->close([cb = done.callback()] { cb(true); });
    done.get(30s);
  }
  Result<Json> call(const std::string& tool, Json args) {
    Slot<Result<Json>> r;
    s->call_tool(tool, std::move(args), {}, r.callback());
    return r.get(30s);
  }
};

}  // namespace

TEST_CASE("server-everything: every tool is listed with its full definition") {
  NpmServer ev("everything", "mcp-server-everything", {});
  CHECK(ev.s->server().protocol_version == "2025-11-25");
  CHECK(ev.s->server().server_info["name"] == "mcp-servers/everything");
  Slot<Result<Tools>> tools;
  ev.s->list_tools(tools.callback());
  auto list = tools.get();
  REQUIRE(list.ok());
  std::set<std::string> names;
  for (const auto& t : *list.value()) {
    names.insert(t["name"].get<std::string>());
    CHECK(t["inputSchema"].is_object());
  }
  for (const char* expected : {"echo", "get-tiny-image", "get-structured-content", "get-sum",
                               "trigger-long-running-operation"})
    CHECK(names.count(expected) == 1);
  // The full definition is kept: titles, annotations and execution hints are not dropped.
  for (const auto& t : *list.value()) {
    if (t["name"] == "echo") {
      CHECK(t["title"] == "Echo Tool");
      CHECK(t["annotations"]["readOnlyHint"] == true);
      CHECK(t["execution"]["taskSupport"] == "forbidden");
    }
  }
}

TEST_CASE("server-everything: echo - the tiny image intact - and structured content") {
  NpmServer ev("everything", "mcp-server-everything", {});
  auto echo = ev.call("echo", {{"message", "hello from mcpd"}});
  REQUIRE(echo.ok());
  CHECK(result_text(echo.value()) == "Echo: hello from mcpd");

  auto image = ev.call("get-tiny-image", Json::object());
  REQUIRE(image.ok());
  bool found = false;
  for (const auto& c : image.value()["content"]) {
    if (c["type"] != "image") continue;
    found = true;
    CHECK(c["mimeType"] == "image/png");
    const std::string data = c["data"].get<std::string>();
    CHECK(data.rfind("iVBORw0KGgo", 0) == 0);  // base64 of the PNG signature
    CHECK(data.size() > 1000);
    CHECK(data.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") ==
          std::string::npos);
  }
  CHECK(found);

  auto weather = ev.call("get-structured-content", {{"location", "Chicago"}});
  REQUIRE(weather.ok());
  REQUIRE(weather.value().contains("structuredContent"));
  CHECK(weather.value()["structuredContent"].is_object());
  CHECK(compat_result(weather.value()) == weather.value()["structuredContent"]);

  auto sum = ev.call("get-sum", {{"a", 2}, {"b", 40}});
  CHECK_THAT(result_text(sum.value()), Catch::Contains("42"));
}

TEST_CASE("server-everything: 500 concurrent calls on one session - each reply matched to its caller") {
  NpmServer ev("everything", "mcp-server-everything", {});
  constexpr int kCalls = 500;
  std::vector<Slot<Result<Json>>> slots(kCalls);
  for (int i = 0; i < kCalls; ++i)
    ev.s->call_tool("echo", {{"message", "caller-" + std::to_string(i)}}, {}, slots[i].callback());
  for (int i = 0; i < kCalls; ++i) {
    auto r = slots[i].get(30s);
    REQUIRE(r.ok());
    CHECK(result_text(r.value()) == "Echo: caller-" + std::to_string(i));
  }
}

TEST_CASE("server-everything: progress notifications of a long-running operation reach the caller") {
  NpmServer ev("everything", "mcp-server-everything", {});
  std::atomic<int> progress{0};
  CallOptions o;
  o.on_progress = [&](const Json&) { ++progress; };
  Slot<Result<Json>> r;
  ev.s->call_tool("trigger-long-running-operation", {{"duration", 1}, {"steps", 3}}, std::move(o), r.callback());
  REQUIRE(r.get(30s).ok());
  CHECK(progress.load() == 3);
}

TEST_CASE("server-filesystem: reads a file in a temporary directory - refuses one outside it") {
  TempDir dir;
  auto root = std::filesystem::canonical(dir.path());
  {
    std::ofstream(root / "note.txt") << "pooled sessions\nsecond line\n";
  }
  NpmServer fs("filesystem", "mcp-server-filesystem", {root.string()});
  auto r = fs.call("read_text_file", {{"path", (root / "note.txt").string()}});
  REQUIRE(r.ok());
  CHECK_FALSE(is_tool_error(r.value()));
  CHECK(result_text(r.value()) == "pooled sessions\nsecond line\n");

  auto denied = fs.call("read_text_file", {{"path", "/etc/hostname"}});
  REQUIRE(denied.ok());
  CHECK(is_tool_error(denied.value()));
  CHECK_THAT(result_text(denied.value()), Catch::Contains("denied") || Catch::Contains("outside"));
}

TEST_CASE("stopping an npm server leaves no process of its group behind") {
  int pid = -1;
  {
    NpmServer ev("everything", "mcp-server-everything", {});
    pid = ev.transport->pid();
    REQUIRE(transport::process_alive(pid));
  }
  CHECK_FALSE(transport::process_alive(pid));
  CHECK_FALSE(transport::group_alive(pid));
}
