// jsonrpc::Peer: id routing, deadlines, late responses, dispatch, malformed input, close.
#include "jsonrpc/peer.hpp"
#include "support/log_capture.hpp"
#include "support/test_support.hpp"

#include <asio/post.hpp>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <mutex>
#include <vector>

using namespace mcpd;
using namespace mcpd::test;
using jsonrpc::Json;
using jsonrpc::Peer;

namespace {

// A peer whose outgoing messages are captured, and whose incoming lines the test injects.
struct Harness {
  io::Loop loop{1};
  io::Strand strand = loop.make_strand();
  std::mutex mu;
  std::vector<Json> sent;
  std::shared_ptr<Peer> peer = Peer::create(strand, "test", [this](std::string m) {
    std::lock_guard lock(mu);
    sent.push_back(Json::parse(m));
    return true;
  });

  void feed(std::string line) {
    asio::post(strand, [this, line = std::move(line)] { peer->receive(line); });
  }
  Json sent_at(std::size_t i) {
    REQUIRE(wait_until([&] {
      std::lock_guard lock(mu);
      return sent.size() > i;
    }));
    std::lock_guard lock(mu);
    return sent[i];
  }
};

}  // namespace

TEST_CASE("responses are routed to their callers by id - in any order") {
  Harness h;
  Slot<Result<Json>> a, b;
  auto id_a = h.peer->request("m", Json{{"x", 1}}, 5000ms, a.callback());
  auto id_b = h.peer->request("m", Json{{"x", 2}}, 5000ms, b.callback());
  REQUIRE(id_a != id_b);
  h.sent_at(1);
  h.feed(Json{{"jsonrpc", "2.0"}, {"id", id_b}, {"result", "second"}}.dump());
  h.feed(Json{{"jsonrpc", "2.0"}, {"id", id_a}, {"result", "first"}}.dump());
  CHECK(a.get().value() == "first");
  CHECK(b.get().value() == "second");
  Json first = h.sent_at(0);
  CHECK(first["jsonrpc"] == "2.0");
  CHECK(first["method"] == "m");
  CHECK(first["params"]["x"] == 1);
}

TEST_CASE("a request past its deadline fails with timeout - tells the hook - and its late response is dropped") {
  Harness h;
  Slot<std::pair<jsonrpc::RequestId, std::string>> hook;
  h.peer->on_timeout([cb = hook.callback()](jsonrpc::RequestId id, const std::string& m) { cb({id, m}); });
  Slot<Result<Json>> r;
  auto start = std::chrono::steady_clock::now();
  auto id = h.peer->request("slow", nullptr, 100ms, r.callback());
  auto outcome = r.get();
  auto elapsed = std::chrono::steady_clock::now() - start;
  REQUIRE_FALSE(outcome.ok());
  CHECK(outcome.error().code == Errc::timeout);
  CHECK_THAT(outcome.error().message, Catch::Contains("slow") && Catch::Contains("timed out"));
  CHECK(elapsed >= 100ms);
  CHECK(elapsed < 2000ms);
  auto [hook_id, hook_method] = hook.get();
  CHECK(hook_id == id);
  CHECK(hook_method == "slow");
  h.feed(Json{{"jsonrpc", "2.0"}, {"id", id}, {"result", "too late"}}.dump());
  CHECK(wait_until([&] { return h.peer->stats().late_responses == 1; }));
  CHECK(h.peer->stats().in_flight == 0);
}

TEST_CASE("a line that is not JSON is counted and the peer keeps working") {
  Harness h;
  h.feed("this is not json {{{");
  h.feed("[1,2,3]");
  h.feed("");
  Slot<Result<Json>> r;
  auto id = h.peer->request("m", nullptr, 5000ms, r.callback());
  h.sent_at(0);
  h.feed(Json{{"jsonrpc", "2.0"}, {"id", id}, {"result", 42}}.dump());
  CHECK(r.get().value() == 42);
  CHECK(h.peer->stats().malformed_lines == 2);  // the blank line is not an error
}

TEST_CASE("a server printing garbage nonstop is counted in full but does not flood the log") {
  LogCapture logs;
  {
    Harness h;
    for (int i = 0; i < 1000; ++i) h.feed("debug output " + std::to_string(i));
    REQUIRE(wait_until([&] { return h.peer->stats().malformed_lines == 1000; }));
    Slot<Result<Json>> r;
    auto id = h.peer->request("m", nullptr, 5000ms, r.callback());
    h.sent_at(0);
    h.feed(Json{{"jsonrpc", "2.0"}, {"id", id}, {"result", 7}}.dump());
    CHECK(r.get().value() == 7);
  }
  const int lines = logs.count("ignored a line");
  CHECK(lines >= 1);
  CHECK(lines <= 10);
  CHECK(logs.count("debug output 0") == 1);  // the first one is shown
  CHECK(logs.count("debug output 999") == 0);
}

TEST_CASE("a remote error keeps its JSON-RPC code and message") {
  Harness h;
  Slot<Result<Json>> r;
  auto id = h.peer->request("m", nullptr, 5000ms, r.callback());
  h.sent_at(0);
  h.feed(Json{{"jsonrpc", "2.0"}, {"id", id}, {"error", {{"code", -32602}, {"message", "bad params"}}}}.dump());
  auto outcome = r.get();
  REQUIRE_FALSE(outcome.ok());
  CHECK(outcome.error().rpc_code == -32602);
  CHECK(outcome.error().message == "bad params");
  CHECK(outcome.error().code == Errc::invalid_request);  // the caller's arguments were refused
}

TEST_CASE("an error our transport made for an unreachable server is unavailable") {
  Harness h;
  Slot<Result<Json>> r;
  auto id = h.peer->request("m", nullptr, 5000ms, r.callback());
  h.feed(Json{{"jsonrpc", "2.0"},
              {"id", id},
              {"error", {{"code", -32000}, {"message", "HTTP 503"}, {"data", {{"transport", "http"}, {"httpStatus", 503}}}}}}
             .dump());
  auto outcome = r.get();
  REQUIRE_FALSE(outcome.ok());
  CHECK(outcome.error().code == Errc::unavailable);
  CHECK(outcome.error().message == "HTTP 503");
}

TEST_CASE("a remote internal or server-defined error is internal - not blamed on the caller") {
  Harness h;
  for (int code : {-32603, -32000}) {
    Slot<Result<Json>> r;
    auto id = h.peer->request("m", nullptr, 5000ms, r.callback());
    h.feed(Json{{"jsonrpc", "2.0"}, {"id", id}, {"error", {{"code", code}, {"message", "broke"}}}}.dump());
    auto outcome = r.get();
    REQUIRE_FALSE(outcome.ok());
    CHECK(outcome.error().rpc_code == code);
    CHECK(outcome.error().code == Errc::internal);
  }
}

TEST_CASE("incoming requests go to their handler - unknown methods get -32601 - and notifications are dispatched") {
  Harness h;
  Slot<Json> note;
  h.peer->on_request("ping", [](const Json&) -> Result<Json> { return Json::object(); });
  h.peer->on_notification("notifications/x", [cb = note.callback()](const Json& p) { cb(p); });
  h.feed(R"({"jsonrpc":"2.0","id":"srv-1","method":"ping"})");
  h.feed(R"({"jsonrpc":"2.0","id":7,"method":"sampling/createMessage","params":{}})");
  h.feed(R"({"jsonrpc":"2.0","method":"notifications/x","params":{"v":3}})");
  Json pong = h.sent_at(0);
  CHECK(pong["id"] == "srv-1");
  CHECK(pong["result"] == Json::object());
  Json refused = h.sent_at(1);
  CHECK(refused["id"] == 7);
  CHECK(refused["error"]["code"] == -32601);
  CHECK(note.get()["v"] == 3);
}

TEST_CASE("close fails every in-flight request with the reason and refuses new ones") {
  Harness h;
  std::vector<Slot<Result<Json>>> slots(5);
  for (auto& s : slots) h.peer->request("m", nullptr, 0ms, s.callback());
  h.sent_at(4);
  h.peer->close(make_error(Errc::unavailable, "server exited with status 3"));
  for (auto& s : slots) {
    auto r = s.get();
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::unavailable);
    CHECK(r.error().message == "server exited with status 3");
  }
  Slot<Result<Json>> after;
  h.peer->request("m", nullptr, 0ms, after.callback());
  CHECK(after.get().error().code == Errc::unavailable);
}

TEST_CASE("cancel completes the caller with the given reason and drops the later response") {
  Harness h;
  Slot<Result<Json>> r;
  auto id = h.peer->request("m", nullptr, 5000ms, r.callback());
  h.sent_at(0);
  h.peer->cancel(id, make_error(Errc::cancelled, "caller gave up"));
  CHECK(r.get().error().code == Errc::cancelled);
  h.feed(Json{{"jsonrpc", "2.0"}, {"id", id}, {"result", 1}}.dump());
  CHECK(wait_until([&] { return h.peer->stats().late_responses == 1; }));
}

TEST_CASE("a response nested 100000 deep fails its request with too_large - the peer goes on") {
  Harness h;
  Slot<Result<Json>> deep, next;
  auto id = h.peer->request("tools/call", nullptr, 5000ms, deep.callback());
  h.sent_at(0);
  const std::string nest = std::string(100000, '[') + std::string(100000, ']');
  h.feed(R"({"jsonrpc":"2.0","id":)" + std::to_string(id) + R"(,"result":{"structuredContent":)" + nest + "}}");
  auto r = deep.get();
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::too_large);
  CHECK(r.error().message == "test: the answer to tools/call was refused: JSON nesting deeper than 128 levels");
  // A request or notification that deep is dropped like any malformed line: no answer, no handler.
  Slot<Json> note;
  h.peer->on_notification("notifications/x", [cb = note.callback()](const Json& p) { cb(p); });
  h.feed(R"({"jsonrpc":"2.0","id":"srv-1","method":"ping","params":)" + nest + "}");
  h.feed(R"({"jsonrpc":"2.0","method":"notifications/x","params":)" + nest + "}");
  h.feed(nest);
  auto id2 = h.peer->request("m", nullptr, 5000ms, next.callback());
  h.feed(Json{{"jsonrpc", "2.0"}, {"id", id2}, {"result", 1}}.dump());
  CHECK(next.get().value() == 1);
  CHECK(h.peer->stats().malformed_lines == 4);
  CHECK_FALSE(note.ready());
  std::lock_guard lock(h.mu);
  CHECK(h.sent.size() == 2);  // our two requests: nothing answered the deep ping
}

TEST_CASE("the depth bound of a peer is its own - a message at the bound passes - one level more does not") {
  io::Loop loop{1};
  auto peer = Peer::create(loop.make_strand(), "small", [](std::string) { return true; }, /*max_json_depth=*/4);
  Slot<Result<Json>> at, over;
  auto a = peer->request("m", nullptr, 5000ms, at.callback());
  auto b = peer->request("m", nullptr, 5000ms, over.callback());
  // The envelope is one level: result [[[1]]] makes 4, [[[[1]]]] makes 5.
  asio::post(peer->strand(), [peer, a, b] {  // holds the peer: the test may end as soon as `over` is answered
    peer->receive(R"({"jsonrpc":"2.0","id":)" + std::to_string(a) + R"(,"result":[[[1]]]})");
    peer->receive(R"({"jsonrpc":"2.0","id":)" + std::to_string(b) + R"(,"result":[[[[1]]]]})");
  });
  CHECK(at.get().value() == Json::parse("[[[1]]]"));
  CHECK(over.get().error().message == "small: the answer to m was refused: JSON nesting deeper than 4 levels");
}
