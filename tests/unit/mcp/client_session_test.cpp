// ClientSession against the native fake MCP server (stdio) and in-process workers: the
// handshake, tools (paging, cache, list_changed), calls (concurrency, deadlines, cancellation,
// progress, whole results), server requests, pings, and failure of the server under us.
#include "mcp/client_session.hpp"
#include "mcp/in_process_server.hpp"
#include "mcp/protocol.hpp"
#include "transport/process_group.hpp"
#include "transport/stdio_transport.hpp"
#include "support/session_fixture.hpp"
#include "support/test_support.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <mutex>
#include <set>
#include <vector>

using namespace mcpd;
using namespace mcpd::mcp;
using namespace mcpd::test;

namespace {

// A session to the native fake server run with `args`.
struct Session : SessionFixture<transport::StdioTransport> {
  explicit Session(std::vector<std::string> args, SessionOptions o = {}) {
    transport::StdioOptions so;
    so.name = "fake";
    so.command = fake_server_path();
    so.args = std::move(args);
    so.eof_grace = 500ms;
    so.term_grace = 500ms;
    if (o.name.empty()) o.name = "fake";
    attach(transport::make_stdio_transport(loop.make_strand(), so), o);
  }
};

std::string text_of(const Json& result) { return result["content"][0]["text"].get<std::string>(); }

}  // namespace

TEST_CASE("initialize negotiates the newest revision and exposes server info and capabilities") {
  Session f({});
  auto d = f.open();
  REQUIRE(d.ok());
  CHECK(d->protocol_version == "2025-11-25");
  CHECK(d->server_info["name"] == "fake-mcp-server");
  CHECK(d->capabilities["tools"]["listChanged"] == true);
  CHECK(f.s->ready());
}

TEST_CASE("an older supported revision is accepted") {
  Session f({"--protocol-version=2025-03-26"});
  auto d = f.open();
  REQUIRE(d.ok());
  CHECK(d->protocol_version == "2025-03-26");
}

TEST_CASE("an unsupported revision fails the open with a clear error and stops the server") {
  Session f({"--protocol-version=2024-10-07"});
  auto d = f.open();
  REQUIRE_FALSE(d.ok());
  CHECK(d.error().code == Errc::unavailable);
  CHECK_THAT(d.error().message, Catch::Contains("2024-10-07") && Catch::Contains("2025-11-25"));
  CHECK(wait_until([&] { return !transport::process_alive(f.transport->pid()); }));
}

TEST_CASE("a server that never answers initialize fails the open at the deadline") {
  SessionOptions o;
  o.open_timeout = 300ms;
  Session f({"--mode", "hang-init"}, o);
  auto d = f.open();
  REQUIRE_FALSE(d.ok());
  CHECK(d.error().code == Errc::timeout);
  CHECK_THAT(d.error().message, Catch::Contains("fake") && Catch::Contains("initialize"));
}

TEST_CASE("tools/list follows nextCursor to the end and the list is cached") {
  Session plain({});
  REQUIRE(plain.open().ok());
  auto all = plain.tools();
  REQUIRE(all.ok());
  Session paged({"--mode", "paged", "--page-size=2"});
  REQUIRE(paged.open().ok());
  auto pages = paged.tools();
  REQUIRE(pages.ok());
  CHECK(pages.value()->size() == all.value()->size());
  CHECK(tool_names(pages.value()) == tool_names(all.value()));
  CHECK(tool_names(all.value()).count("echo") == 1);
  for (const auto& t : *all.value()) CHECK(t.contains("inputSchema"));
  // A second listing is served from the cache: the very same list object.
  auto again = paged.tools();
  CHECK(again.value().get() == pages.value().get());
}

TEST_CASE("notifications/tools/list_changed refreshes the cached list") {
  Session f({"--mode", "list-changed"});
  REQUIRE(f.open().ok());
  Slot<Tools> changed;
  f.s->on_tools_changed(changed.callback());
  auto before = f.tools();
  REQUIRE(before.ok());
  CHECK(tool_names(before.value()).count("dynamic_1") == 0);
  REQUIRE(f.call("echo", {{"message", "x"}}).ok());
  auto after = changed.get();
  CHECK(tool_names(after).count("dynamic_1") == 1);
  CHECK(tool_names(f.s->cached_tools()).count("dynamic_1") == 1);
}

TEST_CASE("500 concurrent calls on one session each get their own reply") {
  Session f({});
  REQUIRE(f.open().ok());
  constexpr int kCalls = 500;
  std::vector<Slot<Result<Json>>> slots(kCalls);
  for (int i = 0; i < kCalls; ++i) {
    f.s->call_tool("echo", {{"message", "call-" + std::to_string(i)}}, {}, slots[i].callback());
  }
  CHECK(wait_until([&] { return f.s->in_flight() > 0 || slots[kCalls - 1].ready(); }));
  for (int i = 0; i < kCalls; ++i) {
    auto r = slots[i].get();
    REQUIRE(r.ok());
    CHECK(text_of(r.value()) == "call-" + std::to_string(i));
  }
  CHECK(f.s->in_flight() == 0);
}

TEST_CASE("calls run concurrently on one session: slow calls do not queue behind each other") {
  Session f({});
  REQUIRE(f.open().ok());
  auto start = std::chrono::steady_clock::now();
  std::vector<Slot<Result<Json>>> slots(20);
  for (auto& s : slots) f.s->call_tool("sleep", {{"ms", 300}}, {}, s.callback());
  for (auto& s : slots) REQUIRE(s.get().ok());
  // Twenty 300 ms calls in series would take 6 s.
  CHECK(std::chrono::steady_clock::now() - start < 3s);
}

TEST_CASE("a call past its deadline fails with timeout and the server is told to cancel it") {
  TempDir dir;
  auto log = dir.path() / "cancel.log";
  Session f({"--cancel-log=" + log.string()});
  REQUIRE(f.open().ok());
  CallOptions o;
  o.timeout = 200ms;
  Slot<Result<Json>> r;
  auto start = std::chrono::steady_clock::now();
  CallId id = f.s->call_tool("sleep", {{"ms", 5000}}, o, r.callback());
  auto outcome = r.get();
  auto elapsed = std::chrono::steady_clock::now() - start;
  REQUIRE_FALSE(outcome.ok());
  CHECK(outcome.error().code == Errc::timeout);
  CHECK(elapsed >= 200ms);
  CHECK(elapsed < 200ms + 1000ms);
  CHECK(wait_until([&] { return read_file(log).find("cancelled " + std::to_string(id)) != std::string::npos; }));
  // The session is still good.
  CHECK(text_of(f.call("echo", {{"message", "still here"}}).value()) == "still here");
}

TEST_CASE("cancel_call fails the caller at once and tells the server") {
  TempDir dir;
  auto log = dir.path() / "cancel.log";
  Session f({"--cancel-log=" + log.string()});
  REQUIRE(f.open().ok());
  Slot<Result<Json>> r;
  CallId id = f.s->call_tool("sleep", {{"ms", 5000}}, {}, r.callback());
  f.s->cancel_call(id, "user pressed stop");
  auto outcome = r.get(2s);
  CHECK(outcome.error().code == Errc::cancelled);
  CHECK(wait_until([&] { return read_file(log).find("cancelled " + std::to_string(id)) != std::string::npos; }));
}

TEST_CASE("progress notifications reach the caller of that call") {
  Session f({});
  REQUIRE(f.open().ok());
  std::mutex mu;
  std::vector<Json> seen;
  CallOptions o;
  o.on_progress = [&](const Json& p) {
    std::lock_guard lock(mu);
    seen.push_back(p);
  };
  auto r = f.call("progress", {{"steps", 4}}, o);
  REQUIRE(r.ok());
  std::lock_guard lock(mu);
  REQUIRE(seen.size() == 4);
  CHECK(seen[3]["progress"] == 4);
  CHECK(seen[3]["total"] == 4);
  CHECK(seen[0]["message"] == "step 1");
}

TEST_CASE("results come back whole: images - structured content - isError - and multi-megabyte text") {
  Session f({});
  REQUIRE(f.open().ok());
  auto image = f.call("image", Json::object());
  REQUIRE(image.ok());
  CHECK(image.value()["content"][0] == Json{{"type", "image"}, {"data", "iVBORw0KGgo="}, {"mimeType", "image/png"}});
  auto sum = f.call("add", {{"a", 2}, {"b", 3}});
  CHECK(sum.value()["structuredContent"]["sum"] == 5);
  auto failed = f.call("fail", Json::object());
  REQUIRE(failed.ok());
  CHECK(is_tool_error(failed.value()));
  auto big = f.call("big", {{"bytes", 3'000'000}});
  REQUIRE(big.ok());
  CHECK(text_of(big.value()).size() == 3'000'000);
}

TEST_CASE("an unknown tool is the server's JSON-RPC error - code kept") {
  Session f({});
  REQUIRE(f.open().ok());
  auto r = f.call("no_such_tool", Json::object());
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().rpc_code == -32602);
  CHECK_THAT(r.error().message, Catch::Contains("no_such_tool"));
}

TEST_CASE("server requests: ping is answered - sampling/roots are refused with -32601 - an elicitation outside a task is declined") {
  Session f({});
  REQUIRE(f.open().ok());
  for (const char* method : {"sampling/createMessage", "roots/list"}) {
    auto r = f.call("ask_client", {{"method", method}});
    REQUIRE(r.ok());
    Json answer = Json::parse(text_of(r.value()));
    CHECK(answer["error"]["code"] == -32601);
  }
  auto elicit = f.call("ask_client", {{"method", "elicitation/create"}});
  REQUIRE(elicit.ok());
  CHECK(Json::parse(text_of(elicit.value()))["result"]["action"] == "decline");
  auto pong = f.call("ask_client", {{"method", "ping"}});
  CHECK(Json::parse(text_of(pong.value()))["result"] == Json::object());
}

TEST_CASE("ping answers on a live session - and a server that stops answering misses its ping and is closed") {
  {
    Session f({});
    REQUIRE(f.open().ok());
    Slot<Result<Json>> pong;
    f.s->ping(pong.callback());
    CHECK(pong.get().ok());
  }
  SessionOptions o;
  o.ping_interval = 200ms;
  o.ping_timeout = 300ms;
  Session hung({"--mode", "hang"}, o);
  REQUIRE(hung.open().ok());
  Error e = hung.closed.get(10s);
  CHECK(e.code == Errc::unavailable);
  CHECK_THAT(e.message, Catch::Contains("missed a ping"));
  CHECK(wait_until([&] { return !transport::process_alive(hung.transport->pid()); }));
}

TEST_CASE("a crash mid-call fails every pending call promptly - naming the server and its exit status") {
  Session f({"--mode", "crash-on-call", "--crash-after=11"});
  REQUIRE(f.open().ok());
  std::vector<Slot<Result<Json>>> slow(10);
  for (auto& s : slow) f.s->call_tool("sleep", {{"ms", 20000}}, {}, s.callback());
  auto start = std::chrono::steady_clock::now();
  Slot<Result<Json>> trigger;
  f.s->call_tool("echo", {{"message", "boom"}}, {}, trigger.callback());
  for (auto& s : slow) {
    auto r = s.get(5s);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::unavailable);
    CHECK_THAT(r.error().message, Catch::Contains("'fake'") && Catch::Contains("exited with status 3"));
  }
  CHECK(trigger.get(5s).error().code == Errc::unavailable);
  CHECK(std::chrono::steady_clock::now() - start < 3s);
  CHECK_THAT(f.closed.get().message, Catch::Contains("exited with status 3") && Catch::Contains("last stderr:"));
  // New calls on the dead session fail at once too.
  CHECK(f.call("echo", {{"message", "x"}}).error().code == Errc::unavailable);
}

TEST_CASE("garbage on stdout is logged and counted - and the session keeps working") {
  Session f({"--mode", "garbage"});
  REQUIRE(f.open().ok());
  for (int i = 0; i < 5; ++i) CHECK(text_of(f.call("echo", {{"message", "ok"}}).value()) == "ok");
  CHECK(f.s->malformed_messages() >= 5);
  CHECK(f.s->ready());
}

TEST_CASE("a stdio result nested 100000 deep fails that call with too_large - the session keeps working") {
  SessionOptions o;
  o.json_max_depth = 64;
  Session f({}, o);
  f.opened();
  auto deep = f.call("deep", {{"levels", 100000}});
  REQUIRE_FALSE(deep.ok());
  CHECK(deep.error().code == Errc::too_large);
  CHECK(deep.error().message == "fake: the answer to tools/call was refused: JSON nesting deeper than 64 levels");
  CHECK(f.s->malformed_messages() == 1);
  // Within the bound: the envelope, result and structuredContent are 3 levels, 61 arrays make 64.
  auto fits = f.call("deep", {{"levels", 61}});
  REQUIRE(fits.ok());
  CHECK(json::depth_of(fits.value()) == 63);
  CHECK(text_of(f.call("echo", {{"message", "still here"}}).value()) == "still here");
  CHECK(f.s->ready());
}

TEST_CASE("an in-process worker server answers calls like any other") {
  io::Loop loop(1);
  InProcessServer server("builtin");
  server.add_tool({{"name", "greet"}, {"description", "says hello"}},
                  [](const ToolCall& c) -> Result<Json> { return text_result("hello " + c.arguments.value("who", "?")); });
  auto t = transport::make_worker_transport(loop.make_strand(), {"builtin"}, server.serve());
  auto s = ClientSession::create(t, {"builtin"});
  Slot<Result<ServerDescription>> ready;
  s->start(ready.callback());
  auto d = ready.get();
  REQUIRE(d.ok());
  CHECK(d->server_info["name"] == "builtin");
  Slot<Result<Tools>> tools;
  s->list_tools(tools.callback());
  CHECK(tool_names(tools.get().value()) == std::set<std::string>{"greet"});
  Slot<Result<Json>> r;
  s->call_tool("greet", {{"who", "nats"}}, {}, r.callback());
  CHECK(text_of(r.get().value()) == "hello nats");
  Slot<bool> closed;
  s->close([cb = closed.callback()] { cb(true); });
  CHECK(closed.get());
}

TEST_CASE("cancelling a worker fails its pending calls and stops its thread") {
  io::Loop loop(1);
  std::atomic<bool> blocked{false}, handler_saw_stop{false};
  InProcessServer server("blocking");
  server.add_tool({{"name", "wait"}}, [&](const ToolCall& c) -> Result<Json> {
    blocked = true;
    while (!c.stop.stop_requested()) std::this_thread::sleep_for(5ms);
    handler_saw_stop = true;
    return text_result("stopped");
  });
  auto t = transport::make_worker_transport(loop.make_strand(), {"blocking"}, server.serve());
  auto s = ClientSession::create(t, {"blocking"});
  Slot<Result<ServerDescription>> ready;
  s->start(ready.callback());
  REQUIRE(ready.get().ok());
  std::vector<Slot<Result<Json>>> pending(3);
  for (auto& p : pending) s->call_tool("wait", Json::object(), {}, p.callback());
  // The requests are written on the transport's strand; a task posted after them runs once all
  // three sit in the worker's inbox (otherwise a late write meets a closed inbox instead).
  Slot<bool> written;
  asio::post(t->strand(), [cb = written.callback()] { cb(true); });
  REQUIRE(written.get());
  REQUIRE(wait_until([&] { return blocked.load(); }));
  t->cancel();
  for (auto& p : pending) {
    auto r = p.get(5s);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::unavailable);
    CHECK_THAT(r.error().message, Catch::Contains("cancelled"));
  }
  CHECK(wait_until([&] { return handler_saw_stop.load(); }));
}

TEST_CASE("an in-process server runs calls side by side and stops the one the client cancels") {
  io::Loop loop(1);
  std::atomic<int> stopped{0};
  InProcessServer server("concurrent");
  server.add_tool({{"name", "wait"}}, [&](const ToolCall& c) -> Result<Json> {
    while (!c.stop.stop_requested()) std::this_thread::sleep_for(5ms);
    ++stopped;
    return text_result("stopped");
  });
  server.add_tool({{"name", "quick"}}, [](const ToolCall&) -> Result<Json> { return text_result("quick"); });
  auto t = transport::make_worker_transport(loop.make_strand(), {"concurrent"}, server.serve());
  auto s = ClientSession::create(t, {"concurrent"});
  Slot<Result<ServerDescription>> ready;
  s->start(ready.callback());
  REQUIRE(ready.get().ok());
  Slot<Result<Json>> waiting;
  auto id = s->call_tool("wait", Json::object(), {}, waiting.callback());
  // A slow call does not hold up another.
  Slot<Result<Json>> quick;
  s->call_tool("quick", Json::object(), {}, quick.callback());
  CHECK(text_of(quick.get(5s).value()) == "quick");
  CHECK(stopped == 0);
  // Cancelling it (notifications/cancelled) stops its handler; the session goes on.
  s->cancel_call(id, "no longer needed");
  auto r = waiting.get(5s);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::cancelled);
  CHECK(wait_until([&] { return stopped.load() == 1; }));
  // A call with a deadline it cannot meet: the client cancels it when it passes.
  Slot<Result<Json>> late;
  CallOptions o;
  o.timeout = 200ms;
  s->call_tool("wait", Json::object(), o, late.callback());
  CHECK(late.get(5s).error().code == Errc::timeout);
  CHECK(wait_until([&] { return stopped.load() == 2; }));
  Slot<Result<Json>> again;
  s->call_tool("quick", Json::object(), {}, again.callback());
  CHECK(text_of(again.get(5s).value()) == "quick");
  Slot<bool> closed;
  s->close([cb = closed.callback()] { cb(true); });
  CHECK(closed.get());
}
