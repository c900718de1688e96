// bus::KvWatch against a real nats-server with JetStream: initial values then live updates in
// order, an empty bucket, prompt teardown (also from the watch's own callback), and a watch that
// resumes after a nats-server restart on the same store.
#include "bus/kv.hpp"

#include "bus/connection.hpp"
#include "support/bus_fixture.hpp"
#include "support/nats_server.hpp"
#include "support/test_support.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <vector>

using namespace mcpd;
using namespace mcpd::test;
using bus::KeyValue;
using bus::KvEntry;
using Kind = bus::KvError::Kind;

namespace {
using Clock = std::chrono::steady_clock;
}  // namespace

TEST_CASE("kv watch delivers initial values then live updates and deletes in order") {
  NatsServer server(with_jetstream());
  auto c = connect(server);
  auto kv = open(*c);
  REQUIRE(kv->put("s.one", "1").ok());
  REQUIRE(kv->put("s.two", "2").ok());
  REQUIRE(kv->put("other", "x").ok());  // outside the pattern
  REQUIRE(kv->put("s.three", "3").ok());
  REQUIRE(kv->erase("s.three").ok());  // its delete marker is its current state

  Events ev;
  auto w = kv->watch("s.*", ev.on_entry(), ev.on_initial_done());
  REQUIRE(w.ok());
  REQUIRE(wait_until([&] { return ev.contains("init"); }, 5s));
  CHECK(ev.snapshot() == std::vector<std::string>{"put s.one=1", "put s.two=2", "del s.three", "init"});

  REQUIRE(kv->put("s.one", "1b").ok());
  REQUIRE(kv->put("other", "y").ok());
  REQUIRE(kv->erase("s.two").ok());
  REQUIRE(kv->create("s.four", "4").ok());
  REQUIRE(wait_until([&] { return ev.size() == 7; }, 5s));
  CHECK(ev.snapshot() == std::vector<std::string>{"put s.one=1", "put s.two=2", "del s.three", "init", "put s.one=1b",
                                                  "del s.two", "put s.four=4"});
  {
    std::lock_guard lock(ev.mu);
    CHECK(std::is_sorted(ev.revisions.begin(), ev.revisions.end()));
  }
  CHECK(w.value()->restarts() == 0);
}

TEST_CASE("kv watch of an empty bucket reports initial done at once") {
  NatsServer server(with_jetstream());
  auto c = connect(server);
  auto kv = open(*c);
  Events ev;
  auto w = kv->watch(">", ev.on_entry(), ev.on_initial_done());
  REQUIRE(w.ok());
  REQUIRE(wait_until([&] { return ev.contains("init"); }, 5s));
  REQUIRE(kv->put("a.b.c", "deep").ok());
  REQUIRE(wait_until([&] { return ev.size() == 2; }, 5s));
  CHECK(ev.snapshot() == std::vector<std::string>{"init", "put a.b.c=deep"});
}

TEST_CASE("kv destroying a watch stops its thread promptly") {
  NatsServer server(with_jetstream());
  auto c = connect(server);
  auto kv = open(*c);
  Events ev;
  auto w = kv->watch(">", ev.on_entry(), ev.on_initial_done());
  REQUIRE(w.ok());
  REQUIRE(wait_until([&] { return ev.contains("init"); }, 5s));
  // No wait for the thread to block in kvWatcher_Next: having reported init it is blocked there
  // or about to be, and stop() must be prompt either way (nothing observable says which, so the
  // sleep that used to be here synchronised nothing).
  auto start = Clock::now();
  w.value().reset();
  auto elapsed = Clock::now() - start;
  CHECK(elapsed < 1s);
  // Nothing is delivered after the watch is gone: once a second watch on the same connection
  // has seen a later write, the server has pushed it to its watchers, the first had its chance.
  auto before = ev.size();
  Events witness;
  auto w2 = kv->watch(">", witness.on_entry(), witness.on_initial_done());
  REQUIRE(w2.ok());
  REQUIRE(wait_until([&] { return witness.contains("init"); }, 5s));
  REQUIRE(kv->put("late", "x").ok());
  REQUIRE(wait_until([&] { return witness.contains("put late=x"); }, 5s));
  CHECK(ev.size() == before);
}

TEST_CASE("kv a watch may use the store and destroy itself from its own callback") {
  NatsServer server(with_jetstream());
  auto c = connect(server);
  auto kv = open(*c);
  REQUIRE(kv->put("ping", "1").ok());
  std::unique_ptr<KeyValue::Watch> watch;
  std::mutex mu;
  std::atomic<bool> answered{false}, destroyed{false};
  auto w = kv->watch(
      ">",
      [&](const KvEntry& e) {
        if (e.key == "ping" && e.value == "1") {
          // Blocking KV calls are fine here: this is the watch's thread, not nats.c's.
          answered = kv->put("pong", "1").ok();
        }
        if (e.key == "pong") {
          std::lock_guard lock(mu);
          watch.reset();  // ends the watch from inside its callback: must not deadlock
          destroyed = true;
        }
      },
      {});
  REQUIRE(w.ok());
  {
    std::lock_guard lock(mu);
    watch = std::move(w).value();
  }
  REQUIRE(wait_until([&] { return destroyed.load(); }, 5s));
  CHECK(answered);
}

TEST_CASE("kv bucket and values survive a nats-server restart and a watch resumes") {
  NatsServer server(with_jetstream());
  auto c = connect(server);
  auto kv = open(*c, bucket("durable"));
  REQUIRE(kv->put("kept", "yes").ok());
  Events ev;
  auto w = kv->watch(">", ev.on_entry(), ev.on_initial_done());
  REQUIRE(w.ok());
  REQUIRE(wait_until([&] { return ev.contains("init"); }, 5s));

  server.stop();  // same port and the same JetStream store directory when it starts again
  REQUIRE(wait_until([&] { return !c->connected(); }, 5s));
  auto down = kv->get("kept");
  REQUIRE_FALSE(down.ok());
  CHECK(down.error().kind == Kind::unavailable);
  CHECK(down.error().message == "bucket durable: get 'kept': not connected to NATS");

  server.start();
  REQUIRE(wait_until([&] { return c->connected(); }, 10s));
  // JetStream recovers its streams shortly after the server accepts clients.
  std::optional<KvEntry> after;
  REQUIRE(wait_until(
      [&] {
        auto g = kv->get("kept");
        if (g.ok()) after = g.value();
        return g.ok();
      },
      10s, 50ms));
  REQUIRE(after.has_value());
  CHECK(after->value == "yes");

  // The watch was re-created and delivers writes made after the restart.
  REQUIRE(wait_until([&] { return kv->put("after-restart", "1").ok(); }, 10s, 50ms));
  REQUIRE(wait_until([&] { return ev.contains("put after-restart=1"); }, 15s));
  // After the reconnect the watch starts afresh: the current values again, then init again.
  REQUIRE(wait_until([&] { return w.value()->restarts() >= 1; }, 5s));
  REQUIRE(wait_until([&] { auto v = ev.snapshot(); return std::count(v.begin(), v.end(), "init") >= 2; }, 5s));
  REQUIRE(kv->put("after-resync", "2").ok());
  REQUIRE(wait_until([&] { return ev.contains("put after-resync=2"); }, 5s));
  auto seen = ev.snapshot();
  CHECK(std::count(seen.begin(), seen.end(), "put kept=yes") >= 2);  // redelivered in the new snapshot

  // A fresh handle binds to the bucket that survived.
  auto again = open(*c, bucket("durable"));
  CHECK(again->get("kept").value()->value == "yes");
}
