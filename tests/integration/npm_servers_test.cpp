// ClientSession against the real reference MCP servers from the npm registry, pinned in
// tests/package-lock.json: server-everything and server-filesystem over stdio.
#include "mcp/client_session.hpp"
#include "mcp/protocol.hpp"
#include "transport/process_group.hpp"
#include "transport/stdio_transport.hpp"
#include "support/everything_checks.hpp"
#include "support/session_fixture.hpp"
#include "support/test_support.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

using namespace mcpd;
using namespace mcpd::mcp;
using namespace mcpd::test;

namespace {

// A session to the pinned npm server `bin`, open once constructed.
struct NpmServer : SessionFixture<transport::StdioTransport> {
  NpmServer(const std::string& name, const std::string& bin, std::vector<std::string> args) {
    transport::StdioOptions o;
    o.name = name;
    o.command = npm_bin(bin);
    o.args = std::move(args);
    SessionOptions so;
    so.name = name;
    so.request_timeout = 20s;
    attach(transport::make_stdio_transport(loop.make_strand(), o), so);
    open_wait = 60s;
    auto r = open();
    if (!r.ok()) FAIL("cannot open " << name << ": " << r.error().message);
  }
};

}  // namespace

TEST_CASE("server-everything: every tool is listed with its full definition") {
  NpmServer ev("everything", "mcp-server-everything", {});
  CHECK(ev.s->server().protocol_version == "2025-11-25");
  CHECK(ev.s->server().server_info["name"] == "mcp-servers/everything");
  auto list = ev.tools();
  REQUIRE(list.ok());
  for (const auto& t : *list.value()) CHECK(t["inputSchema"].is_object());
  auto names = tool_names(list.value());
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

  check_tiny_image(ev.call("get-tiny-image", Json::object()));

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
  check_concurrent_echoes(*ev.s, 500, 30s);
}

TEST_CASE("server-everything: progress notifications of a long-running operation reach the caller") {
  NpmServer ev("everything", "mcp-server-everything", {});
  auto [r, progress] = long_running_operation(*ev.s, {{"duration", 1}, {"steps", 3}});
  REQUIRE(r.ok());
  CHECK(progress == 3);
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
