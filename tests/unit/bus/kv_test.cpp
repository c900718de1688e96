// bus::KeyValue against a real nats-server with JetStream: put/get, create-if-absent and
// compare-and-set conflicts, deletes, keys, TTL expiry, two clients, settings mismatches, and the
// refusals (bad names, no JetStream, calls on a nats.c thread). Watches: kv_watch_test.cpp.
#include "bus/kv.hpp"

#include "bus/connection.hpp"
#include "support/bus_fixture.hpp"
#include "support/log_capture.hpp"
#include "support/nats_server.hpp"
#include "support/test_support.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

using namespace mcpd;
using namespace mcpd::test;
using bus::Connection;
using bus::KeyValue;
using bus::KvEntry;
using bus::KvError;
using bus::KvOptions;
using Kind = KvError::Kind;

namespace {
using Clock = std::chrono::steady_clock;
}  // namespace

TEST_CASE("kv put and get round trip with revisions and creation time") {
  NatsServer server(with_jetstream());
  auto c = connect(server);
  auto kv = open(*c);  // replicas = 1 by default: fine on a single server
  CHECK(kv->bucket() == "kvtest");

  auto before = std::chrono::system_clock::now();
  auto r1 = kv->put("sessions.a", "hello");
  REQUIRE(r1.ok());
  CHECK(r1.value() >= 1);
  auto got = kv->get("sessions.a");
  REQUIRE(got.ok());
  REQUIRE(got.value().has_value());
  CHECK(got.value()->key == "sessions.a");
  CHECK(got.value()->value == "hello");
  CHECK(got.value()->revision == r1.value());
  CHECK(got.value()->op == KvEntry::Op::put);
  CHECK(got.value()->created >= before - 5s);
  CHECK(got.value()->created <= std::chrono::system_clock::now() + 5s);

  // Binary values and empty values survive; revisions grow with every write.
  std::string binary("a\0b\xff", 4);
  auto r2 = kv->put("sessions.a", binary);
  REQUIRE(r2.ok());
  CHECK(r2.value() > r1.value());
  CHECK(kv->get("sessions.a").value()->value == binary);
  REQUIRE(kv->put("empty", "").ok());
  auto empty = kv->get("empty");
  REQUIRE(empty.ok());
  REQUIRE(empty.value().has_value());
  CHECK(empty.value()->value.empty());

  auto missing = kv->get("nope");
  REQUIRE(missing.ok());
  CHECK_FALSE(missing.value().has_value());
}

TEST_CASE("kv create fails with a conflict when the key exists") {
  NatsServer server(with_jetstream());
  auto c = connect(server);
  auto kv = open(*c, bucket("mcpd-sessions"));

  auto first = kv->create("x", "one");
  REQUIRE(first.ok());
  auto again = kv->create("x", "two");
  REQUIRE_FALSE(again.ok());
  CHECK(is_conflict(again));
  CHECK(again.error().kind == Kind::conflict);
  CHECK(again.error().code == Errc::invalid_request);
  CHECK(again.error().current_revision == first.value());
  CHECK(again.error().message == "bucket mcpd-sessions: key 'x' already exists (revision " +
                                     std::to_string(first.value()) + ")");
  CHECK(kv->get("x").value()->value == "one");

  // A deleted key counts as absent: create writes over its delete marker.
  REQUIRE(kv->erase("x").ok());
  auto recreated = kv->create("x", "three");
  REQUIRE(recreated.ok());
  CHECK(kv->get("x").value()->value == "three");
  CHECK(is_conflict(kv->create("x", "four")));

  // The error propagates into a plain Result for callers that need no kind.
  auto propagate = [&]() -> Result<std::uint64_t> {
    auto r = kv->create("x", "five");
    if (!r.ok()) return r.error();
    return r.value();
  };
  Result<std::uint64_t> plain = propagate();
  REQUIRE_FALSE(plain.ok());
  CHECK(plain.error().message.find("already exists") != std::string::npos);
}

TEST_CASE("kv update is a compare and set on the last revision") {
  NatsServer server(with_jetstream());
  auto c = connect(server);
  auto kv = open(*c, bucket("mcpd-sessions"));

  auto r1 = kv->put("k", "v1");
  REQUIRE(r1.ok());
  auto r2 = kv->update("k", "v2", r1.value());
  REQUIRE(r2.ok());
  CHECK(r2.value() > r1.value());
  CHECK(kv->get("k").value()->value == "v2");

  auto stale = kv->update("k", "v3", r1.value());
  REQUIRE_FALSE(stale.ok());
  CHECK(stale.error().kind == Kind::conflict);
  CHECK(stale.error().current_revision == r2.value());
  CHECK(stale.error().message == "bucket mcpd-sessions: wrong last revision for key 'k': expected " +
                                     std::to_string(r1.value()) + " (the key is at revision " +
                                     std::to_string(r2.value()) + ")");
  CHECK(kv->get("k").value()->value == "v2");

  auto absent = kv->update("other", "v", 5);
  REQUIRE_FALSE(absent.ok());
  CHECK(absent.error().kind == Kind::conflict);
  CHECK(absent.error().message ==
        "bucket mcpd-sessions: wrong last revision for key 'other': expected 5 (the key does not exist)");

  // 0: only if the key was never written.
  REQUIRE(kv->update("other", "v", 0).ok());
  CHECK(is_conflict(kv->update("other", "w", 0)));
}

TEST_CASE("kv concurrent compare and set increments lose no update") {
  NatsServer server(with_jetstream());
  auto c = connect(server);
  auto kv = open(*c);
  REQUIRE(kv->put("counter", "0").ok());
  constexpr int kThreads = 4, kEach = 15;
  std::atomic<int> conflicts{0}, failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) {
        for (;;) {
          auto cur = kv->get("counter");
          if (!cur.ok() || !cur.value()) {
            ++failures;
            return;
          }
          int n = std::stoi(cur.value()->value);
          auto w = kv->update("counter", std::to_string(n + 1), cur.value()->revision);
          if (w.ok()) break;
          if (!is_conflict(w)) {
            ++failures;
            return;
          }
          ++conflicts;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(failures == 0);
  CHECK(kv->get("counter").value()->value == std::to_string(kThreads * kEach));
  INFO("conflicts: " << conflicts.load());
}

TEST_CASE("kv erase writes a delete marker and get then finds nothing") {
  NatsServer server(with_jetstream());
  auto c = connect(server);
  auto kv = open(*c);
  auto r = kv->put("gone", "soon");
  REQUIRE(r.ok());
  REQUIRE(kv->erase("gone").ok());
  auto got = kv->get("gone");
  REQUIRE(got.ok());
  CHECK_FALSE(got.value().has_value());
  CHECK(kv->erase("never-there").ok());  // deleting a missing key is not an error

  // erase_if: only at the expected revision.
  auto r1 = kv->put("cas", "v");
  REQUIRE(r1.ok());
  auto r2 = kv->put("cas", "w");
  REQUIRE(r2.ok());
  auto stale = kv->erase_if("cas", r1.value());
  REQUIRE_FALSE(stale.ok());
  CHECK(stale.error().kind == Kind::conflict);
  CHECK(stale.error().current_revision == r2.value());
  CHECK(stale.error().message == "bucket kvtest: cannot delete: wrong last revision for key 'cas': expected " +
                              std::to_string(r1.value()) + " (the key is at revision " + std::to_string(r2.value()) +
                              ")");
  CHECK(kv->get("cas").value()->value == "w");
  CHECK(kv->erase_if("cas", r2.value()).ok());
  CHECK_FALSE(kv->get("cas").value().has_value());
  auto zero = kv->erase_if("cas", 0);
  REQUIRE_FALSE(zero.ok());
  CHECK(zero.error().kind == Kind::invalid);
}

TEST_CASE("kv keys lists the keys that have a value sorted") {
  NatsServer server(with_jetstream());
  auto c = connect(server);
  auto kv = open(*c);
  auto none = kv->keys();
  REQUIRE(none.ok());
  CHECK(none.value().empty());

  REQUIRE(kv->put("b", "1").ok());
  REQUIRE(kv->put("a", "1").ok());
  REQUIRE(kv->put("c.d", "1").ok());
  REQUIRE(kv->put("a", "2").ok());  // one key, whatever its history
  REQUIRE(kv->erase("b").ok());
  auto keys = kv->keys();
  REQUIRE(keys.ok());
  CHECK(keys.value() == std::vector<std::string>{"a", "c.d"});
}

TEST_CASE("kv values age out after the bucket ttl") {
  NatsServer server(with_jetstream());
  auto c = connect(server);
  KvOptions o = bucket("short-lived");
  o.ttl = 1s;
  auto kv = open(*c, o);
  auto start = Clock::now();
  REQUIRE(kv->put("ephemeral", "x").ok());
  REQUIRE(kv->get("ephemeral").value().has_value());
  REQUIRE(wait_until(
      [&] {
        auto g = kv->get("ephemeral");
        return g.ok() && !g.value().has_value();
      },
      10s, 50ms));
  CHECK(Clock::now() - start >= 900ms);
  CHECK(kv->keys().value().empty());
  // And the key can be created again once it aged out.
  CHECK(kv->create("ephemeral", "y").ok());
}

TEST_CASE("kv two handles on two connections see the writes of each other") {
  NatsServer server(with_jetstream());
  auto c1 = connect(server, "node-1"), c2 = connect(server, "node-2");
  auto kv1 = open(*c1, bucket("shared"));
  auto kv2 = open(*c2, bucket("shared"));  // binds to the bucket kv1 created

  Events ev;
  auto w = kv2->watch(">", ev.on_entry(), ev.on_initial_done());
  REQUIRE(w.ok());
  REQUIRE(wait_until([&] { return ev.contains("init"); }, 5s));

  auto r = kv1->put("from-1", "hi");
  REQUIRE(r.ok());
  auto seen = kv2->get("from-1");
  REQUIRE(seen.ok());
  REQUIRE(seen.value().has_value());
  CHECK(seen.value()->value == "hi");
  REQUIRE(wait_until([&] { return ev.contains("put from-1=hi"); }, 5s));

  // A compare-and-set race between the two: exactly one wins.
  auto a = kv2->update("from-1", "by-2", r.value());
  auto b = kv1->update("from-1", "by-1", r.value());
  CHECK(a.ok() != b.ok());
  CHECK((is_conflict(a) || is_conflict(b)));
  CHECK(kv1->create("claim", "node-1").ok());
  CHECK(is_conflict(kv2->create("claim", "node-2")));
  CHECK(kv2->keys().value() == std::vector<std::string>{"claim", "from-1"});
}

TEST_CASE("kv opening an existing bucket with other settings uses it and warns") {
  NatsServer server(with_jetstream());
  auto c = connect(server);
  LogCapture logs;
  KvOptions first = bucket("cfg");
  first.history = 5;
  auto kv1 = open(*c, first);
  auto r = kv1->put("k", "v");
  REQUIRE(r.ok());
  KvOptions other = bucket("cfg");
  other.history = 1;
  other.ttl = 60s;
  auto kv2 = open(*c, other);
  CHECK(kv2->get("k").value()->value == "v");
  auto warnings = logs.matching("exists with other settings");
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].find("history 5 (asked for 1)") != std::string::npos);
  CHECK(warnings[0].find("ttl 0 ms (asked for 60000 ms)") != std::string::npos);
  // Same settings: no warning.
  auto kv3 = open(*c, first);
  CHECK(logs.matching("exists with other settings").size() == 1);
}

TEST_CASE("kv refuses bad names keys and options with invalid errors") {
  NatsServer server(with_jetstream());
  auto c = connect(server);
  auto bad_bucket = KeyValue::open(*c, bucket("no.dots"));
  REQUIRE_FALSE(bad_bucket.ok());
  CHECK(bad_bucket.error().kind == Kind::invalid);
  CHECK(bad_bucket.error().message == "invalid bucket name 'no.dots' (allowed: letters, digits, '-' and '_')");
  KvOptions too_much = bucket();
  too_much.history = 65;
  CHECK(KeyValue::open(*c, too_much).error().kind == Kind::invalid);

  auto kv = open(*c);
  for (std::string key : {"", ".a", "a.", "a..b", "sp ace", "star*", "a.>"}) {
    INFO("key: '" << key << "'");
    auto p = kv->put(key, "v");
    REQUIRE_FALSE(p.ok());
    CHECK(p.error().kind == Kind::invalid);
    CHECK(p.error().code == Errc::invalid_request);
    CHECK(kv->get(key).error().kind == Kind::invalid);
  }
  CHECK(kv->put("ok_key-1/x=y\\z", "v").ok());
  CHECK(kv->watch("a.*.>", {}, {}).ok());
  CHECK(kv->watch("a.>.b", {}, {}).error().kind == Kind::invalid);
}

TEST_CASE("kv a value above max_value_bytes is too large") {
  NatsServer server(with_jetstream());
  auto c = connect(server);
  KvOptions o = bucket();
  o.max_value_bytes = 16;
  auto kv = open(*c, o);
  // A value of exactly the limit can be written, compare-and-set, and deleted conditionally:
  // the headers those writes carry do not count against it.
  auto r1 = kv->put("full", std::string(16, 'a'));
  REQUIRE(r1.ok());
  auto r2 = kv->update("full", std::string(16, 'b'), r1.value());
  REQUIRE(r2.ok());
  CHECK(kv->erase_if("full", r2.value()).ok());
  CHECK(kv->create("full", std::string(16, 'c')).ok());

  auto big = kv->put("big", std::string(17, 'x'));
  REQUIRE_FALSE(big.ok());
  CHECK(big.error().kind == Kind::invalid);
  CHECK(big.error().code == Errc::too_large);
  CHECK(big.error().message == "bucket kvtest: put 'big': a value of 17 bytes exceeds the bucket's max_value_bytes of 16");
  auto huge = kv->put("huge", std::string(2 << 20, 'x'));  // over the server's max_payload
  REQUIRE_FALSE(huge.ok());
  CHECK(huge.error().code == Errc::too_large);

  // A handle that asked for no limit still meets the bucket's own limit, from the server.
  auto unlimited = open(*c, bucket());
  auto refused = unlimited->put("big", std::string(1000, 'x'));
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().kind == Kind::invalid);
  CHECK(refused.error().code == Errc::too_large);
  CHECK(refused.error().message.find("exceeds the bucket's max_value_bytes") != std::string::npos);
}

TEST_CASE("kv operations on a deleted bucket fail as not found") {
  NatsServer server(with_jetstream());
  auto c = connect(server);
  KvOptions o = bucket("doomed");
  o.timeout = 500ms;  // a get on a deleted bucket is only answered by this timeout
  auto kv = open(*c, o);
  REQUIRE(kv->put("k", "v").ok());
  // Deleted behind our back, as an operator would: `nats kv rm doomed` deletes stream KV_doomed.
  auto reply = c->request("$JS.API.STREAM.DELETE.KV_doomed", "", 2s);
  REQUIRE(reply.ok());
  REQUIRE(reply->data().find("\"success\":true") != std::string_view::npos);

  auto p = kv->put("k", "w");
  REQUIRE_FALSE(p.ok());
  CHECK(p.error().kind == Kind::not_found);
  CHECK(p.error().message == "bucket doomed: put 'k': the bucket does not exist (deleted?)");
  CHECK(kv->get("k").error().kind == Kind::not_found);
  CHECK(kv->create("k2", "v").error().kind == Kind::not_found);
  CHECK(kv->keys().error().kind == Kind::not_found);
  CHECK(kv->watch(">", {}, {}).error().kind == Kind::not_found);
  // Opening it again creates it afresh.
  auto again = open(*c, bucket("doomed"));
  CHECK_FALSE(again->get("k").value().has_value());
}

TEST_CASE("kv replicas beyond a single server fail with the reason of the server") {
  NatsServer server(with_jetstream());
  auto c = connect(server);
  KvOptions o = bucket();
  o.replicas = 3;
  auto kv = KeyValue::open(*c, o);
  REQUIRE_FALSE(kv.ok());
  INFO(kv.error().message);
  CHECK(kv.error().message.find("bucket kvtest: cannot create the bucket") == 0);
  CHECK(kv.error().message.find("replicas") != std::string::npos);
}

TEST_CASE("kv open without JetStream fails as unavailable") {
  NatsServer server;  // no -js
  auto c = connect(server);
  auto start = Clock::now();
  auto kv = KeyValue::open(*c, bucket());
  REQUIRE_FALSE(kv.ok());
  CHECK(kv.error().kind == Kind::unavailable);
  CHECK(kv.error().code == Errc::unavailable);
  CHECK(kv.error().message.find("JetStream is not enabled") != std::string::npos);
  CHECK(Clock::now() - start < 3s);
}

TEST_CASE("kv calls on a nats.c callback thread are refused") {
  NatsServer server(with_jetstream());
  auto c = connect(server);
  auto kv = open(*c);
  Slot<KvError> refused;
  auto cb = refused.callback();
  auto sub = c->subscribe("poke", [&](bus::Message) {
    auto g = kv->get("x");
    cb(g.ok() ? KvError{} : g.error());
  });
  REQUIRE(sub.ok());
  REQUIRE(c->flush(2s).ok());
  REQUIRE(c->publish("poke", "").ok());
  KvError e = refused.get(5s);
  CHECK(e.kind == Kind::invalid);
  CHECK(e.code == Errc::internal);
  CHECK(e.message.find("must not be made on a nats.c callback thread") != std::string::npos);
}
