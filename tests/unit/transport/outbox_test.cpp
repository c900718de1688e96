// Outbox: one flush per burst of pushes, batches in push order, deferred flushes keeping their
// messages, storage reused between flushes, and all of it under pushes from many threads.
#include "transport/outbox.hpp"
#include "io/loop.hpp"
#include "support/test_support.hpp"

#include <catch2/catch.hpp>

#include <asio/post.hpp>

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace mcpd;
using namespace mcpd::test;
using mcpd::transport::Outbox;
using Strings = std::vector<std::string>;

TEST_CASE("an outbox asks for one flush per burst and hands over the burst in order") {
  Outbox<std::string> outbox;
  CHECK(outbox.take().empty());
  CHECK(outbox.push("a"));
  CHECK_FALSE(outbox.push("b"));
  CHECK_FALSE(outbox.push("c"));
  CHECK(outbox.take() == Strings{"a", "b", "c"});
  CHECK(outbox.take().empty());
  CHECK(outbox.push("d"));  // the flush ran: a new one is needed
  CHECK(outbox.take() == Strings{"d"});
}

TEST_CASE("a deferred flush leaves the messages for the next one") {
  Outbox<std::string> outbox;
  CHECK(outbox.push("a"));
  outbox.defer();
  CHECK(outbox.push("b"));  // the deferred flush is over: this push schedules the next
  CHECK_FALSE(outbox.push("c"));
  CHECK(outbox.take() == Strings{"a", "b", "c"});
}

TEST_CASE("taking into a batch replaces its contents and trades storage with the outbox") {
  Outbox<std::string> outbox;
  Strings batch{"stale"};
  batch.reserve(64);
  const std::string* storage = batch.data();
  CHECK(outbox.push("x"));
  outbox.take(batch);
  CHECK(batch == Strings{"x"});
  CHECK(outbox.push("y"));  // lands in the storage the batch handed over
  Strings next;
  outbox.take(next);
  CHECK(next == Strings{"y"});
  CHECK(next.data() == storage);
}

TEST_CASE("pushed from many threads every message arrives once and in order with one flush pending at most") {
  constexpr int kThreads = 4, kEach = 5000;
  Outbox<std::pair<int, int>> outbox;  // (thread, sequence number)
  std::vector<std::pair<int, int>> got;  // on the strand only
  std::atomic<int> pending{0}, max_pending{0}, posted{0}, flushed{0}, delivered{0};
  io::Loop loop(2);
  auto strand = loop.make_strand();
  // As a transport's flush does: take everything queued, on the strand.
  auto flush = [&] {
    --pending;
    auto batch = outbox.take();
    got.insert(got.end(), batch.begin(), batch.end());
    delivered += static_cast<int>(batch.size());
    ++flushed;
  };
  std::vector<std::thread> senders;
  for (int t = 0; t < kThreads; ++t) {
    senders.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        if (!outbox.push({t, i})) continue;
        int now = ++pending;
        int seen = max_pending.load();
        while (now > seen && !max_pending.compare_exchange_weak(seen, now)) {
        }
        ++posted;
        asio::post(strand, flush);
      }
    });
  }
  for (auto& s : senders) s.join();
  REQUIRE(wait_until([&] { return delivered == kThreads * kEach && flushed == posted; }));
  CHECK(max_pending == 1);
  CHECK(posted <= kThreads * kEach);
  std::vector<int> next(kThreads, 0);
  bool in_order = std::all_of(got.begin(), got.end(), [&](const auto& m) { return m.second == next[m.first]++; });
  CHECK(in_order);
}
