// io::BlockingPool: its queue is bounded and every refusal is a value the caller can answer
// with — overloaded when full, unavailable once stopped — and stop() still runs what was queued.
#include "io/blocking_pool.hpp"

#include "support/test_support.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <future>
#include <map>
#include <mutex>
#include <vector>
#include <stdexcept>
#include <thread>

using namespace mcpd;
using namespace mcpd::test;

namespace {

// Holds the pool's only thread in a job until release(), so that whatever is posted meanwhile
// waits in the queue.
struct Plug {
  std::promise<void> entered, go;
  std::shared_future<void> released = go.get_future().share();

  void put_into(io::BlockingPool& pool) {
    auto in = entered.get_future();
    REQUIRE(pool.post([this] {
                  entered.set_value();
                  released.wait();
                })
                .ok());
    REQUIRE(in.wait_for(10s) == std::future_status::ready);
  }
  void release() { go.set_value(); }
};

}  // namespace

TEST_CASE("blocking pool: a full queue refuses new work with overloaded and takes work again once it drains") {
  io::BlockingPool pool("test-pool", 1, 2);
  Plug plug;
  plug.put_into(pool);
  std::atomic<int> ran{0};
  REQUIRE(pool.post([&] { ++ran; }).ok());
  REQUIRE(pool.post([&] { ++ran; }).ok());
  CHECK(pool.queued() == 2);

  auto refused = pool.post([&] { ++ran; });
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == Errc::overloaded);
  CHECK(refused.error().message.find("test-pool") != std::string::npos);
  CHECK(refused.error().message.find("2 jobs waiting") != std::string::npos);

  plug.release();
  REQUIRE(wait_until([&] { return ran.load() == 2; }, 10s, 1ms));
  REQUIRE(pool.post([&] { ++ran; }).ok());
  CHECK(wait_until([&] { return ran.load() == 3; }, 10s, 1ms));
  CHECK(ran.load() == 3);  // the refused job never ran
}

TEST_CASE("blocking pool: stop runs what is queued and then refuses with unavailable") {
  io::BlockingPool pool("test-pool", 1);
  Plug plug;
  plug.put_into(pool);
  std::atomic<int> ran{0};
  for (int i = 0; i < 5; ++i) REQUIRE(pool.post([&] { ++ran; }).ok());
  std::thread stopper([&] { pool.stop(); });
  // Once stopping has begun, new work is refused while the queued work still runs.
  REQUIRE(wait_until([&] { return !pool.post([] {}).ok(); }, 10s, 1ms));
  plug.release();
  stopper.join();
  CHECK(ran.load() == 5);
  auto refused = pool.post([&] { ++ran; });
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == Errc::unavailable);
  CHECK(refused.error().message.find("stopping") != std::string::npos);
  CHECK(ran.load() == 5);
}

TEST_CASE("blocking pool: a job that throws is logged and the thread takes the next one") {
  io::BlockingPool pool("test-pool", 1);
  std::promise<void> next;
  auto done = next.get_future();
  REQUIRE(pool.post([] { throw std::runtime_error("boom"); }).ok());
  REQUIRE(pool.post([&] { next.set_value(); }).ok());
  CHECK(done.wait_for(10s) == std::future_status::ready);
}

TEST_CASE("blocking pool: jobs posted in order under one key run one at a time in that order") {
  io::BlockingPool pool("test-pool", 4);
  std::mutex mu;
  std::map<std::string, std::vector<int>> seen;
  std::map<std::string, int> running;
  bool overlapped = false;
  std::atomic<int> done{0};
  constexpr int kPerKey = 200;
  for (int i = 0; i < kPerKey; ++i)
    for (std::string key : {"a", "b", "c"})
      REQUIRE(pool.post_in_order(key, [&, key, i] {
                    {
                      std::lock_guard lock(mu);
                      if (running[key]++ > 0) overlapped = true;
                    }
                    std::this_thread::yield();
                    std::lock_guard lock(mu);
                    --running[key];
                    seen[key].push_back(i);
                    ++done;
                  })
                  .ok());
  REQUIRE(wait_until([&] { return done.load() == 3 * kPerKey; }, 20s, 1ms));
  std::vector<int> expected(kPerKey);
  for (int i = 0; i < kPerKey; ++i) expected[i] = i;
  std::lock_guard lock(mu);
  CHECK_FALSE(overlapped);
  for (std::string key : {"a", "b", "c"}) CHECK(seen[key] == expected);
}

TEST_CASE("blocking pool: a key whose job waits holds back only its own line - ordered work counts toward the bound") {
  io::BlockingPool pool("test-pool", 2, 3);
  std::promise<void> entered, go;
  std::shared_future<void> released = go.get_future().share();
  auto in = entered.get_future();
  std::atomic<int> a_ran{0}, b_ran{0};
  REQUIRE(pool.post_in_order("a", [&] {
                entered.set_value();
                released.wait();
                ++a_ran;
              })
              .ok());
  REQUIRE(in.wait_for(10s) == std::future_status::ready);
  REQUIRE(pool.post_in_order("a", [&] { ++a_ran; }).ok());
  REQUIRE(pool.post_in_order("b", [&] { ++b_ran; }).ok());
  // b runs on the other thread; a's second job waits behind its first.
  REQUIRE(wait_until([&] { return b_ran.load() == 1; }, 10s, 1ms));
  CHECK(a_ran.load() == 0);
  CHECK(pool.queued() == 1);
  // Both threads busy before the bound is filled, so nothing waiting is taken off the queue.
  std::promise<void> other_entered;
  auto other_in = other_entered.get_future();
  REQUIRE(pool.post([&] {
                other_entered.set_value();
                released.wait();
              })
              .ok());
  REQUIRE(other_in.wait_for(10s) == std::future_status::ready);
  REQUIRE(pool.post_in_order("a", [&] { ++a_ran; }).ok());
  REQUIRE(pool.post([] {}).ok());
  CHECK(pool.queued() == 3);
  auto refused = pool.post_in_order("c", [] {});
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == Errc::overloaded);
  go.set_value();
  CHECK(wait_until([&] { return a_ran.load() == 3; }, 10s, 1ms));
}
