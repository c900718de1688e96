// Backpressure that isolated sessions cannot bypass: NodeLimits on its own (seats, eviction
// hand-over, start permits), then SessionPools against the native fake MCP server sharing
// one: the in-flight limit and maxQueue for isolated sessions, the node's max_sessions and
// max_live_processes with LRU eviction across servers, idle shared sessions closing after
// idleTtl, max_concurrent_starts, and a refused session id reported as closed (so cluster
// affinity lets it go).
#include "pool/node_limits.hpp"
#include "pool/session_pool.hpp"
#include "mcp/protocol.hpp"
#include "transport/process_group.hpp"
#include "transport/stdio_transport.hpp"
#include "support/test_support.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <mutex>
#include <set>

using namespace mcpd;
using namespace mcpd::pool;
using namespace mcpd::test;

namespace {

struct Pool {
  io::Loop& loop;
  std::shared_ptr<SessionPool> pool;

  Pool(io::Loop& l, PoolOptions o, std::vector<std::string> args) : loop(l) {
    pool = SessionPool::create(loop, o, [this, args, name = o.name](const std::string& label) {
      transport::StdioOptions so;
      so.name = label;
      so.command = fake_server_path();
      so.args = args;
      so.eof_grace = 300ms;
      so.term_grace = 300ms;
      mcp::SessionOptions mo;
      mo.name = name;
      mo.open_timeout = 10s;
      return mcp::ClientSession::create(transport::make_stdio_transport(loop.make_strand(), so), mo);
    });
    pool->start();
  }
  ~Pool() {
    Slot<bool> done;
    pool->close([cb = done.callback()] { cb(true); });
    done.get(30s);
  }
  void call(Slot<Result<CallResult>>& slot, const std::string& tool, Json args, std::optional<std::string> sid,
            std::chrono::milliseconds timeout = 0ms) {
    pool->call(CallRequest{tool, std::move(args), std::move(sid), timeout, {}}, slot.callback());
  }
  Result<CallResult> call(const std::string& tool, Json args = Json::object(), std::optional<std::string> sid = {}) {
    Slot<Result<CallResult>> r;
    call(r, tool, std::move(args), std::move(sid));
    return r.get(30s);
  }
  int pid(std::optional<std::string> sid = std::nullopt) {
    auto r = call("pid", Json::object(), std::move(sid));
    if (!r.ok()) FAIL("pid failed: " << r.error().message);
    return std::stoi(mcp::result_text(r.value().result));
  }
};

PoolOptions isolated_opts(const std::string& name, std::shared_ptr<NodeLimits> limits) {
  PoolOptions o;
  o.name = name;
  o.min_sessions = 0;
  o.max_sessions = 1;
  o.max_isolated_sessions = 16;
  o.isolate_by_session_id = true;
  o.drain_timeout = 5s;
  o.backoff.initial = 20ms;
  o.limits = std::move(limits);
  return o;
}

}  // namespace

TEST_CASE("node limits: seats run out and an idle session's seat is handed over to a new one") {
  auto limits = NodeLimits::create({2, 0});
  auto a = limits->take_seat();
  auto b = limits->take_seat();
  REQUIRE(a);
  REQUIRE(b);
  CHECK_FALSE(limits->take_seat());  // full and nothing idle
  CHECK(limits->stats().refusals == 1);

  int evicted_a = 0, evicted_b = 0;
  const auto t0 = NodeLimits::Clock::now();
  limits->offer_idle(b, t0 + 1s, [&] { ++evicted_b; });
  limits->offer_idle(a, t0, [&] { ++evicted_a; });  // idle longer: evicted first
  auto c = limits->take_seat();
  REQUIRE(c);
  CHECK(evicted_a == 1);
  CHECK(evicted_b == 0);
  CHECK(limits->stats().sessions == 2);
  a.reset();  // the evicted session closes: its seat is c's now, nothing is given back
  CHECK(limits->stats().sessions == 2);

  limits->withdraw_idle(b);  // b got busy again: not evictable
  CHECK_FALSE(limits->take_seat());
  b.reset();
  CHECK(limits->stats().sessions == 1);
  CHECK(limits->take_seat());
  CHECK(limits->stats().evictions == 1);
}

TEST_CASE("node limits: max_live_processes counts process seats and evicts only an idle process for one") {
  NodeLimitsOptions o;
  o.max_sessions = 10;
  o.max_concurrent_starts = 0;
  o.max_live_processes = 2;
  auto limits = NodeLimits::create(o);
  auto p1 = limits->take_seat(true);
  auto p2 = limits->take_seat(true);
  REQUIRE(p1);
  REQUIRE(p2);
  std::string why;
  CHECK_FALSE(limits->take_seat(true, &why));  // two processes and none idle
  CHECK(why == "max_live_processes");
  auto remote = limits->take_seat(false);  // a session without a process still fits
  REQUIRE(remote);
  CHECK(limits->stats().sessions == 3);
  CHECK(limits->stats().processes == 2);

  int evicted_remote = 0, evicted_p1 = 0;
  const auto t0 = NodeLimits::Clock::now();
  limits->offer_idle(remote, t0, [&] { ++evicted_remote; });  // idle longest, but runs no process
  CHECK_FALSE(limits->take_seat(true));
  CHECK(evicted_remote == 0);
  limits->offer_idle(p1, t0 + 1s, [&] { ++evicted_p1; });
  auto p3 = limits->take_seat(true);
  REQUIRE(p3);
  CHECK(evicted_p1 == 1);
  CHECK(evicted_remote == 0);
  p1.reset();  // the evicted process ends: its place was p3's already
  CHECK(limits->stats().processes == 2);
  CHECK(limits->stats().sessions == 3);
  p2.reset();
  CHECK(limits->stats().processes == 1);
  CHECK(limits->take_seat(true));
}

TEST_CASE("node limits: start permits are granted in order and passed on when one is returned") {
  auto limits = NodeLimits::create({0, 2});
  std::vector<int> granted;
  for (int i = 0; i < 4; ++i) limits->wait_for_start([&granted, i] { granted.push_back(i); });
  CHECK(granted == std::vector<int>{0, 1});
  CHECK(limits->stats().waiting_to_start == 2);
  limits->release_start();
  CHECK(granted == std::vector<int>{0, 1, 2});
  limits->release_start();
  limits->release_start();
  limits->release_start();
  CHECK(granted == std::vector<int>{0, 1, 2, 3});
  CHECK(limits->stats().starting == 0);
}

TEST_CASE("an isolated session takes at most maxInflightPerSession calls and the rest wait within maxQueue") {
  io::Loop loop(2);
  auto o = isolated_opts("fake", nullptr);
  o.max_inflight_per_session = 1;
  o.max_queue = 2;
  Pool p(loop, o, {});
  REQUIRE(p.pid("s") > 0);  // started and idle
  std::vector<Slot<Result<CallResult>>> slots(3);
  for (auto& s : slots) p.call(s, "sleep", {{"ms", 400}}, std::string("s"));
  REQUIRE(wait_until([&] { return p.pool->stats().queued == 2; }));
  CHECK(p.pool->stats().in_flight == 1);
  auto refused = p.call("echo", {{"message", "x"}}, "s");
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == Errc::overloaded);
  CHECK_THAT(refused.error().message, Catch::Contains("maxQueue"));
  for (auto& s : slots) CHECK(s.get(10s).ok());
  CHECK(p.pool->stats().queued == 0);
}

TEST_CASE("calls waiting for new isolated sessions count in maxQueue and a refused session id is reported closed") {
  io::Loop loop(2);
  auto o = isolated_opts("fake", nullptr);
  o.max_queue = 2;
  std::mutex mu;
  std::vector<std::string> closed;
  o.on_isolated_closed = [&](const std::string& sid) {
    std::lock_guard lock(mu);
    closed.push_back(sid);
  };
  Pool p(loop, o, {"--init-delay-ms=500"});
  Slot<Result<CallResult>> a, b;
  p.call(a, "pid", Json::object(), std::string("a"));
  p.call(b, "pid", Json::object(), std::string("b"));
  REQUIRE(wait_until([&] { return p.pool->stats().queued == 2; }));
  auto refused = p.call("pid", Json::object(), "c");
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == Errc::overloaded);
  {
    std::lock_guard lock(mu);
    CHECK(closed == std::vector<std::string>{"c"});  // nothing runs for c: its ownership can go
  }
  CHECK(a.get(10s).ok());
  CHECK(b.get(10s).ok());
  CHECK(p.pool->stats().isolated_sessions == 2);
}

TEST_CASE("at the node's max_sessions the least recently used idle session of another server makes room") {
  io::Loop loop(2);
  // Four seats: each server's first call also starts a shared session (it lists the tools),
  // which is never evicted; the isolated ones are.
  auto limits = NodeLimits::create({4, 0});
  Pool first(loop, isolated_opts("first", limits), {});
  Pool second(loop, isolated_opts("second", limits), {});
  const int old_pid = first.pid("old");
  REQUIRE(second.pid("recent") > 0);
  CHECK(limits->stats().sessions == 4);

  // A third session: "old" (idle longest, another server) is evicted for it.
  REQUIRE(second.pid("new") > 0);
  CHECK(wait_until([&] { return !transport::process_alive(old_pid); }, 5s));
  CHECK(wait_until([&] { return first.pool->stats().isolated_sessions == 0; }, 5s));
  CHECK(limits->stats().evictions == 1);
  CHECK(limits->stats().sessions == 4);

  // Both remaining sessions busy: a new one is refused, naming the setting.
  Slot<Result<CallResult>> busy1, busy2;
  second.call(busy1, "sleep", {{"ms", 600}}, std::string("recent"));
  second.call(busy2, "sleep", {{"ms", 600}}, std::string("new"));
  REQUIRE(wait_until([&] { return second.pool->stats().in_flight == 2; }));
  auto refused = first.call("pid", Json::object(), "another");
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == Errc::overloaded);
  CHECK_THAT(refused.error().message, Catch::Contains("max_sessions"));
  CHECK(busy1.get(10s).ok());
  CHECK(busy2.get(10s).ok());
  // Idle again: the next new session gets a seat.
  CHECK(first.pid("another") > 0);
}

TEST_CASE("at max_live_processes an idle server's process is stopped for another server's call - busy ones are not") {
  io::Loop loop(2);
  NodeLimitsOptions lo;
  lo.max_concurrent_starts = 0;
  lo.max_live_processes = 1;
  auto limits = NodeLimits::create(lo);
  auto shared = [&](const std::string& name) {
    auto o = isolated_opts(name, limits);
    o.isolate_by_session_id = false;  // plain calls on shared sessions, started on first use (minSessions 0)
    return o;
  };
  Pool a(loop, shared("a"), {});
  Pool b(loop, shared("b"), {});
  const int a_pid = a.pid();
  // b's first call needs a process: a's, idle (offered once its call ended), is stopped for it.
  REQUIRE(wait_until([&] { return limits->stats().idle == 1; }, 5s));
  const int b_pid = b.pid();
  CHECK(wait_until([&] { return !transport::process_alive(a_pid); }, 5s));
  CHECK(limits->stats().processes == 1);
  CHECK(limits->stats().evictions == 1);

  // a again (b's process goes), and while a's call runs, b cannot have one.
  Slot<Result<CallResult>> busy;
  REQUIRE(wait_until([&] { return limits->stats().idle == 1; }, 5s));
  a.call(busy, "sleep", {{"ms", 800}}, std::nullopt);
  CHECK(wait_until([&] { return !transport::process_alive(b_pid); }, 5s));
  REQUIRE(wait_until([&] { return a.pool->stats().in_flight == 1; }, 5s));
  auto refused = b.call("pid");
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == Errc::overloaded);
  CHECK_THAT(refused.error().message, Catch::Contains("[node] max_live_processes"));
  CHECK(busy.get(10s).ok());
  // Idle again: b's next call gets a process.
  REQUIRE(wait_until([&] { return limits->stats().idle == 1; }, 5s));
  CHECK(b.pid() > 0);
  CHECK(limits->stats().processes == 1);
}

TEST_CASE("a shared session above minSessions closes after idleTtl - its process stopped") {
  io::Loop loop(2);
  auto o = isolated_opts("lazy", NodeLimits::create({}));
  o.isolate_by_session_id = false;
  o.idle_ttl = 200ms;
  Pool p(loop, o, {});
  const int pid = p.pid();
  CHECK(wait_until([&] { return !transport::process_alive(pid); }, 5s));
  CHECK(p.pool->stats().sessions_ready == 0);
  CHECK(p.pid() != pid);  // the next call starts one again
}

TEST_CASE("max_concurrent_starts: new sessions start a few at a time and all of them answer") {
  io::Loop loop(2);
  auto limits = NodeLimits::create({0, 2});
  Pool p(loop, isolated_opts("fake", limits), {"--init-delay-ms=200"});
  std::vector<Slot<Result<CallResult>>> slots(6);
  for (std::size_t i = 0; i < slots.size(); ++i) p.call(slots[i], "pid", Json::object(), "s" + std::to_string(i));
  int most_starting = 0, most_waiting = 0;
  wait_until(
      [&] {
        auto s = limits->stats();
        most_starting = std::max(most_starting, s.starting);
        most_waiting = std::max(most_waiting, s.waiting_to_start);
        return p.pool->stats().isolated_sessions == 6 && s.starting == 0 && s.waiting_to_start == 0;
      },
      20s, 5ms);
  std::set<std::string> pids;
  for (auto& s : slots) {
    auto r = s.get(20s);
    REQUIRE(r.ok());
    pids.insert(mcp::result_text(r.value().result));
  }
  CHECK(pids.size() == 6);
  CHECK(most_starting == 2);
  CHECK(most_waiting >= 1);
}

TEST_CASE("a session whose callers all gave up while it waited to start is never started") {
  io::Loop loop(2);
  auto limits = NodeLimits::create({0, 1});
  Pool p(loop, isolated_opts("fake", limits), {"--init-delay-ms=1000"});
  REQUIRE(p.pid("warm") > 0);  // the tool list is known from now on
  Slot<Result<CallResult>> first, late;
  p.call(first, "pid", Json::object(), std::string("first"));  // holds the only permit for 1 s
  REQUIRE(wait_until([&] { return limits->stats().starting == 1; }));
  p.call(late, "pid", Json::object(), std::string("late"), 300ms);
  auto r = late.get(10s);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::timeout);
  CHECK_THAT(r.error().message, Catch::Contains("waiting for its session"));
  REQUIRE(first.get(10s).ok());
  // The permit passed to "late", whose caller had gone: it was dropped instead of started.
  CHECK(wait_until([&] { return p.pool->stats().isolated_sessions == 2 && limits->stats().starting == 0; }, 5s));
  CHECK(limits->stats().sessions == 3);  // the shared session that listed the tools, "warm" and "first"
}
