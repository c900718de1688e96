// The dual-era lifecycle against the native fake server: a 2026-07-28 server is opened with
// server/discover and spoken to with the per-request envelope (results unwrapped, an
// input_required result an error); servers of the handshake era fall back to initialize, at
// once when they refuse the probe and after the probe's timeout when they ignore it, and the
// era is remembered so that later sessions of the same server skip the probe.
#include "mcp/client_session.hpp"
#include "mcp/protocol.hpp"
#include "transport/stdio_transport.hpp"
#include "support/test_support.hpp"

#include <catch2/catch.hpp>

using namespace mcpd;
using namespace mcpd::mcp;
using namespace mcpd::test;

namespace {

// One session to the fake server run with `args`, opened by `lifecycle`.
struct EraSession {
  io::Loop loop{2};
  std::shared_ptr<ClientSession> s;

  EraSession(std::vector<std::string> args, std::unique_ptr<Lifecycle> lifecycle = make_dual_era_lifecycle()) {
    transport::StdioOptions so;
    so.name = "fake";
    so.command = fake_server_path();
    so.args = std::move(args);
    so.eof_grace = 500ms;
    so.term_grace = 500ms;
    SessionOptions o;
    o.name = "fake";
    o.open_timeout = 10s;
    s = ClientSession::create(transport::make_stdio_transport(loop.make_strand(), so), o, std::move(lifecycle));
  }
  ~EraSession() {
    Slot<bool> done;
    s->close([cb = done.callback()] { cb(true); });
    done.get(30s);
  }
  Result<ServerDescription> open() {
    Slot<Result<ServerDescription>> ready;
    s->start(ready.callback());
    return ready.get(30s);
  }
  Result<Json> call(const std::string& tool, Json args) {
    Slot<Result<Json>> r;
    s->call_tool(tool, std::move(args), {}, r.callback());
    return r.get(30s);
  }
};

std::chrono::milliseconds elapsed_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t);
}

}  // namespace

TEST_CASE("a server of the stateless era is opened with server/discover and spoken to statelessly") {
  EraSession f({"--mode", "stateless"});
  auto d = f.open();
  REQUIRE(d.ok());
  CHECK(d->protocol_version == "2026-07-28");
  CHECK(f.s->stateless());
  CHECK(d->server_info["name"] == "fake-mcp-server");  // from the result's _meta
  CHECK(d->capabilities.contains("tools"));

  Slot<Result<Tools>> tools;
  f.s->list_tools(tools.callback());
  auto t = tools.get();
  REQUIRE(t.ok());
  CHECK_FALSE(t.value()->empty());

  auto echo = f.call("echo", {{"message", "hi"}});
  REQUIRE(echo.ok());
  CHECK(echo.value()["content"][0]["text"] == "hi");
  CHECK_FALSE(echo.value().contains("resultType"));  // the era's wire detail stays on the wire

  // Every request carries the envelope: the meta tool shows what the server received.
  auto meta = f.call("meta", Json::object());
  REQUIRE(meta.ok());
  Json seen = Json::parse(meta.value()["content"][0]["text"].get<std::string>());
  CHECK(seen["io.modelcontextprotocol/protocolVersion"] == "2026-07-28");
  CHECK(seen["io.modelcontextprotocol/clientCapabilities"] == Json::object());
  CHECK(seen["io.modelcontextprotocol/clientInfo"]["name"] == "mcpd");

  // The revision has no ping: the keep-alive is a server/discover.
  Slot<Result<Json>> ping;
  f.s->ping(ping.callback());
  CHECK(ping.get().ok());
}

TEST_CASE("an input_required result comes back as a tool error that says what the server asked") {
  EraSession f({"--mode", "stateless"});
  REQUIRE(f.open().ok());
  auto r = f.call("needs_input", Json::object());
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::tool_error);
  CHECK_THAT(r.error().message, Catch::Contains("needs input") && Catch::Contains("elicitation/create") &&
                                    Catch::Contains("Delete everything?"));
}

TEST_CASE("a server that refuses server/discover is opened with initialize at once") {
  auto start = std::chrono::steady_clock::now();
  EraSession f({});
  auto d = f.open();
  REQUIRE(d.ok());
  CHECK(d->protocol_version == "2025-11-25");
  CHECK_FALSE(f.s->stateless());
  CHECK(elapsed_since(start) < 3s);  // no probe timeout: the -32601 came back at once
  auto echo = f.call("echo", {{"message", "hi"}});
  REQUIRE(echo.ok());
  CHECK(echo.value()["content"][0]["text"] == "hi");
}

TEST_CASE("a 2024-11-05 server is accepted") {
  EraSession f({"--protocol-version=2024-11-05"});
  auto d = f.open();
  REQUIRE(d.ok());
  CHECK(d->protocol_version == "2024-11-05");
}

TEST_CASE("a server that ignores server/discover costs one probe timeout - once per server") {
  auto memo = std::make_shared<EraMemo>();
  DualEraOptions o;
  o.probe_timeout = 1500ms;
  o.memo = memo;
  {
    auto start = std::chrono::steady_clock::now();
    EraSession f({"--mode", "silent-before-init"}, make_dual_era_lifecycle(o));
    auto d = f.open();
    REQUIRE(d.ok());
    CHECK(d->protocol_version == "2025-11-25");
    auto took = elapsed_since(start);
    CHECK(took >= 1500ms);
    CHECK(took < 6s);
    CHECK(memo->get() == EraMemo::Era::handshake);
  }
  {
    auto start = std::chrono::steady_clock::now();
    EraSession f({"--mode", "silent-before-init"}, make_dual_era_lifecycle(o));
    REQUIRE(f.open().ok());
    CHECK(elapsed_since(start) < 1500ms);  // straight to initialize
  }
}

TEST_CASE("a remembered era that turns out wrong is found out again") {
  auto memo = std::make_shared<EraMemo>();
  memo->set(EraMemo::Era::stateless);
  DualEraOptions o;
  o.memo = memo;
  EraSession f({}, make_dual_era_lifecycle(o));
  auto d = f.open();
  REQUIRE(d.ok());
  CHECK(d->protocol_version == "2025-11-25");
  CHECK(memo->get() == EraMemo::Era::handshake);
}
