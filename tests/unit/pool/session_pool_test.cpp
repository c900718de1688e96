// SessionPool against the native fake MCP server: eager and grown shared sessions,
// least-loaded dispatch, backpressure, per-session isolation with idle TTL and LRU eviction,
// restart after a crash, the circuit breaker, unknown tools, and draining close.
#include "pool/session_pool.hpp"
#include "mcp/protocol.hpp"
#include "transport/process_group.hpp"
#include "transport/stdio_transport.hpp"
#include "support/test_support.hpp"

#include <catch2/catch.hpp>

#include <asio/post.hpp>

#include <atomic>
#include <csignal>
#include <mutex>
#include <random>
#include <set>
#include <thread>

using namespace mcpd;
using namespace mcpd::pool;
using namespace mcpd::test;

namespace {

struct Pool {
  io::Loop loop{2};
  std::shared_ptr<SessionPool> pool;

  Pool(PoolOptions o, std::vector<std::string> args, std::string command = fake_server_path()) {
    if (o.name.empty()) o.name = "fake";
    pool = SessionPool::create(loop, o, [this, args, command, name = o.name](const std::string& label) {
      transport::StdioOptions so;
      so.name = label;
      so.command = command;
      so.args = args;
      so.eof_grace = 300ms;
      so.term_grace = 300ms;
      mcp::SessionOptions mo;
      mo.name = name;
      mo.open_timeout = 5s;
      return mcp::ClientSession::create(transport::make_stdio_transport(loop.make_strand(), so), mo);
    });
    pool->start();
  }
  ~Pool() { close(); }
  void close() {
    if (!pool) return;
    Slot<bool> done;
    pool->close([cb = done.callback()] { cb(true); });
    done.get(30s);
    pool.reset();
  }
  Result<CallResult> call(const std::string& tool, Json args = Json::object(), std::optional<std::string> sid = {},
                          std::chrono::milliseconds timeout = 0ms) {
    Slot<Result<CallResult>> r;
    pool->call(CallRequest{tool, std::move(args), std::move(sid), timeout, {}}, r.callback());
    return r.get(30s);
  }
  std::string text(const std::string& tool, Json args = Json::object(), std::optional<std::string> sid = {}) {
    auto r = call(tool, std::move(args), std::move(sid));
    if (!r.ok()) FAIL("call failed: " << r.error().message);
    return mcp::result_text(r.value().result);
  }
};

PoolOptions opts(int min, int max, int inflight = 32, int queue = 256) {
  PoolOptions o;
  o.min_sessions = min;
  o.max_sessions = max;
  o.max_inflight_per_session = inflight;
  o.max_queue = queue;
  o.backoff.initial = 20ms;
  o.backoff.max = 200ms;
  o.drain_timeout = 5s;
  return o;
}

}  // namespace

TEST_CASE("min_sessions are started eagerly") {
  Pool p(opts(2, 4), {});
  CHECK(wait_until([&] { return p.pool->stats().sessions_ready == 2; }));
}

TEST_CASE("calls spread over the least-loaded sessions and the pool grows under load up to max_sessions") {
  Pool p(opts(1, 3, 1), {"--mode", "slow", "--delay-ms=300"});
  REQUIRE(wait_until([&] { return p.pool->stats().sessions_ready == 1; }));
  std::vector<Slot<Result<CallResult>>> slots(6);
  for (auto& s : slots) p.pool->call({"pid", Json::object(), {}, 0ms, {}}, s.callback());
  std::set<std::string> pids;
  for (auto& s : slots) {
    auto r = s.get();
    REQUIRE(r.ok());
    pids.insert(mcp::result_text(r.value().result));
  }
  CHECK(pids.size() == 3);
  CHECK(p.pool->stats().sessions_ready == 3);
}

TEST_CASE("when every slot and the queue are full the call is refused at once with overloaded") {
  Pool p(opts(1, 1, 1, 1), {});
  REQUIRE(wait_until([&] { return p.pool->stats().sessions_ready == 1; }));
  REQUIRE(p.call("echo", {{"message", "warm"}}).ok());  // the tool list is known from here on
  Slot<Result<CallResult>> running, queued, refused;
  p.pool->call({"sleep", {{"ms", 500}}, {}, 0ms, {}}, running.callback());
  REQUIRE(wait_until([&] { return p.pool->stats().in_flight == 1; }));
  p.pool->call({"sleep", {{"ms", 10}}, {}, 0ms, {}}, queued.callback());
  INFO("in flight " << p.pool->stats().in_flight << ", ready " << p.pool->stats().sessions_ready);
  REQUIRE(wait_until([&] { return p.pool->stats().queued == 1; }));
  auto start = std::chrono::steady_clock::now();
  p.pool->call({"echo", {{"message", "x"}}, {}, 0ms, {}}, refused.callback());
  auto r = refused.get();
  CHECK(std::chrono::steady_clock::now() - start < 200ms);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::overloaded);
  CHECK_THAT(r.error().message, Catch::Contains("overloaded"));
  CHECK(running.get().ok());
  auto q = queued.get();
  INFO((q.ok() ? std::string("ok") : q.error().message));
  CHECK(q.ok());
}

TEST_CASE("a queued call whose deadline passes fails with timeout") {
  Pool p(opts(1, 1, 1, 10), {});
  REQUIRE(p.call("echo", {{"message", "warm"}}).ok());
  Slot<Result<CallResult>> running, queued;
  p.pool->call({"sleep", {{"ms", 800}}, {}, 0ms, {}}, running.callback());
  REQUIRE(wait_until([&] { return p.pool->stats().in_flight == 1; }));
  p.pool->call({"echo", {{"message", "late"}}, {}, 100ms, {}}, queued.callback());
  auto r = queued.get(5s);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::timeout);
  CHECK(running.get().ok());
}

TEST_CASE("isolation by session id: each session id has its own server state - calls without one share") {
  Pool p(opts(1, 1), {});
  CHECK(p.text("counter", {}, "alice") == "1");
  CHECK(p.text("counter", {}, "alice") == "2");
  CHECK(p.text("counter", {}, "bob") == "1");
  CHECK(p.text("counter", {}, "alice") == "3");
  CHECK(p.text("counter") == "1");
  CHECK(p.text("counter") == "2");
  CHECK(p.text("pid", {}, "alice") != p.text("pid", {}, "bob"));
  CHECK(p.pool->stats().isolated_sessions == 2);
}

TEST_CASE("isolation shared ignores the session id") {
  auto o = opts(1, 1);
  o.isolate_by_session_id = false;
  Pool p(o, {});
  CHECK(p.text("counter", {}, "alice") == "1");
  CHECK(p.text("counter", {}, "bob") == "2");
  CHECK(p.pool->stats().isolated_sessions == 0);
}

TEST_CASE("an isolated session idle past its TTL is closed - its process stopped") {
  auto o = opts(1, 1);
  o.idle_ttl = 200ms;
  Pool p(o, {});
  int pid = std::stoi(p.text("pid", {}, "s1"));
  CHECK(p.text("counter", {}, "s1") == "1");
  CHECK(wait_until([&] { return p.pool->stats().isolated_sessions == 0; }, 5s));
  CHECK(wait_until([&] { return !transport::process_alive(pid); }, 5s));
  auto again = p.call("counter", {}, "s1");
  CHECK(mcp::result_text(again.value().result) == "1");
  CHECK_FALSE(again.value().session_reset);  // expiry is expected, not a loss
}

TEST_CASE("at max isolated sessions the least-recently-used idle one is evicted - and all busy is overloaded") {
  auto o = opts(1, 1);
  o.max_isolated_sessions = 2;
  Pool p(o, {});
  int a = std::stoi(p.text("pid", {}, "a"));
  p.text("pid", {}, "b");
  p.text("pid", {}, "b");  // b is now more recent than a
  p.text("pid", {}, "c");  // evicts a
  CHECK(wait_until([&] { return !transport::process_alive(a); }, 5s));
  CHECK(p.pool->stats().isolated_sessions == 2);

  Slot<Result<CallResult>> busy_b, busy_c;
  p.pool->call({"sleep", {{"ms", 600}}, std::string("b"), 0ms, {}}, busy_b.callback());
  p.pool->call({"sleep", {{"ms", 600}}, std::string("c"), 0ms, {}}, busy_c.callback());
  REQUIRE(wait_until([&] { return p.pool->stats().in_flight == 2; }));
  auto r = p.call("echo", {{"message", "x"}}, "d");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::overloaded);
  CHECK(busy_b.get().ok());
  CHECK(busy_c.get().ok());
}

TEST_CASE("a killed session is replaced and calls succeed again within seconds") {
  Pool p(opts(1, 1), {});
  int pid = std::stoi(p.text("pid"));
  REQUIRE(::kill(pid, SIGKILL) == 0);
  auto start = std::chrono::steady_clock::now();
  bool recovered = wait_until(
      [&] {
        auto r = p.call("pid");
        return r.ok() && mcp::result_text(r.value().result) != std::to_string(pid);
      },
      10s, 50ms);
  CHECK(recovered);
  CHECK(std::chrono::steady_clock::now() - start < 5s);
  CHECK(p.pool->stats().restarts >= 1);
  CHECK_THAT(p.pool->stats().last_error, Catch::Contains("signal 9"));
}

TEST_CASE("a crashed isolated session is started afresh and the reply says session_reset") {
  Pool p(opts(1, 1), {});
  CHECK(p.text("counter", {}, "conv") == "1");
  int pid = std::stoi(p.text("pid", {}, "conv"));
  REQUIRE(::kill(pid, SIGKILL) == 0);
  REQUIRE(wait_until([&] { return p.pool->stats().isolated_sessions == 0; }));
  auto r = p.call("counter", {}, "conv");
  REQUIRE(r.ok());
  CHECK(mcp::result_text(r.value().result) == "1");
  CHECK(r.value().session_reset);
  auto next = p.call("counter", {}, "conv");
  CHECK_FALSE(next.value().session_reset);
}

TEST_CASE("a server that keeps failing opens the circuit: calls fail at once with its last stderr line") {
  auto o = opts(1, 1);
  o.backoff.failures_to_open = 3;
  o.backoff.cooldown = 400ms;
  Pool p(o, {"-c", "echo 'fatal: config file missing' >&2; exit 1"}, "/bin/sh");
  REQUIRE(wait_until([&] { return p.pool->stats().circuit == CircuitState::open; }, 10s));
  auto start = std::chrono::steady_clock::now();
  auto r = p.call("echo", {{"message", "x"}});
  CHECK(std::chrono::steady_clock::now() - start < 200ms);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::unavailable);
  CHECK_THAT(r.error().message, Catch::Contains("fatal: config file missing") && Catch::Contains("'fake'"));
  // After the cool-down one attempt is let through (half-open), fails, and the circuit opens again.
  CHECK(wait_until([&] { return p.pool->stats().restarts >= 1; }, 5s));
  CHECK(wait_until([&] { return p.pool->stats().circuit == CircuitState::open; }, 5s));
}

TEST_CASE("an unknown tool is refused with unknown_tool naming the server's tools") {
  Pool p(opts(1, 1), {});
  auto r = p.call("no_such_tool");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::unknown_tool);
  CHECK_THAT(r.error().message, Catch::Contains("no_such_tool") && Catch::Contains("echo"));
}

TEST_CASE("a tool added by the server is callable: the list is fetched again on a miss") {
  Pool p(opts(1, 1), {"--mode", "list-changed"});
  CHECK(p.text("echo", {{"message", "a"}}) == "a");  // the server now has dynamic_1
  CHECK(p.text("dynamic_1", {{"message", "b"}}) == "b");
}

TEST_CASE("calls to unknown tools ask the server for its list at most once per interval") {
  for (auto [interval, expected] : {std::pair{std::chrono::milliseconds(60'000), 1}, std::pair{std::chrono::milliseconds(0), 20}}) {
    auto o = opts(1, 1);
    o.tool_refresh_interval = interval;
    Pool p(o, {});
    CHECK(p.text("echo", {{"message", "a"}}) == "a");  // the list is cached now
    const auto before = p.pool->stats().tool_list_fetches;
    for (int i = 0; i < 20; ++i) {
      auto r = p.call("no_such_tool");
      REQUIRE_FALSE(r.ok());
      CHECK(r.error().code == Errc::unknown_tool);
      CHECK_THAT(r.error().message, Catch::Contains("echo"));
    }
    INFO("interval " << interval.count() << " ms");
    CHECK(p.pool->stats().tool_list_fetches - before == static_cast<std::uint64_t>(expected));
  }
}

TEST_CASE("close lets in-flight calls finish - then stops every process - and refuses new calls") {
  Pool p(opts(2, 2), {});
  REQUIRE(wait_until([&] { return p.pool->stats().sessions_ready == 2; }));
  std::set<int> pids;
  for (int i = 0; i < 6; ++i) pids.insert(std::stoi(p.text("pid")));
  std::vector<Slot<Result<CallResult>>> slow(4);
  for (auto& s : slow) p.pool->call({"sleep", {{"ms", 400}}, {}, 0ms, {}}, s.callback());
  REQUIRE(wait_until([&] { return p.pool->stats().in_flight == 4; }));
  Slot<bool> closed;
  p.pool->close([cb = closed.callback()] { cb(true); });
  Slot<Result<CallResult>> after;
  p.pool->call({"echo", {{"message", "x"}}, {}, 0ms, {}}, after.callback());
  CHECK(after.get().error().code == Errc::unavailable);
  for (auto& s : slow) CHECK(s.get().ok());
  CHECK(closed.get());
  for (int pid : pids) CHECK_FALSE(transport::process_alive(pid));
}

// The lane: a tool call to a shared session with a free slot is dispatched and written to the
// session's pipe on the caller's thread, with no hand-off to the pool's strand.
TEST_CASE("the lane: a call to an idle shared session is on its way before the loop runs") {
  Pool p(opts(1, 1), {});
  REQUIRE(p.text("echo", {{"message", "list the tools first"}}) == "list the tools first");
  // Both loop threads held: nothing of the pool, the session or the transport can run there.
  std::mutex held;
  std::unique_lock hold(held);
  Slot<bool> blocked_a, blocked_b;
  for (auto* b : {&blocked_a, &blocked_b})
    asio::post(p.loop.context(), [&held, cb = b->callback()] {
      cb(true);
      std::lock_guard wait(held);
    });
  REQUIRE(blocked_a.get(5s));
  REQUIRE(blocked_b.get(5s));
  Slot<Result<CallResult>> r;
  p.pool->call(CallRequest{"echo", {{"message", "lane"}}, {}, 0ms, {}}, r.callback());
  // The slot was claimed on this thread, and the request written to the pipe from here.
  CHECK(p.pool->stats().in_flight == 1);
  CHECK(p.pool->stats().calls == 2);
  hold.unlock();
  auto answer = r.get(10s);
  REQUIRE(answer.ok());
  CHECK(mcp::result_text(answer.value().result) == "lane");
}

TEST_CASE("the lane: calls from many threads never exceed maxInflightPerSession") {
  Pool p(opts(1, 1, /*inflight=*/2, /*queue=*/256), {});
  REQUIRE(p.text("echo", {{"message", "ready"}}) == "ready");
  std::atomic<bool> done{false};
  std::atomic<int> most{0};
  std::thread sampler([&] {
    while (!done) {
      most = std::max(most.load(), p.pool->stats().in_flight);
      std::this_thread::sleep_for(200us);
    }
  });
  std::atomic<int> failed{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 6; ++t)
    callers.emplace_back([&] {
      for (int i = 0; i < 8; ++i) {
        auto r = p.call("sleep", {{"ms", 10}});
        if (!r.ok()) ++failed;
      }
    });
  for (auto& c : callers) c.join();
  done = true;
  sampler.join();
  CHECK(failed == 0);
  CHECK(most.load() >= 1);
  CHECK(most.load() <= 2);
}

TEST_CASE("the lane: calls from many threads while idle sessions close all succeed") {
  // Sessions above minSessions close 5 ms after their last call, while calls keep arriving from
  // four threads at random moments: a call the lane hands to a session must never meet it closing.
  auto o = opts(0, 3, /*inflight=*/2);
  o.idle_ttl = 5ms;
  Pool p(o, {});
  std::atomic<int> ok{0}, failed{0};
  std::mutex first_mu;
  std::string first_failure;
  std::vector<std::thread> callers;
  for (int t = 0; t < 4; ++t)
    callers.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t + 1));
      for (int i = 0; i < 60; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 12));
        // A server exits at stdin's EOF abandoning its calls: a call on a closing session fails.
        auto r = p.call("sleep", {{"ms", 3}});
        if (r.ok()) {
          ++ok;
          continue;
        }
        ++failed;
        std::lock_guard lock(first_mu);
        if (first_failure.empty()) first_failure = r.error().message;
      }
    });
  for (auto& c : callers) c.join();
  INFO("first failure: " << first_failure);
  CHECK(failed == 0);
  CHECK(ok == 240);
}
