// node::Affinity against a real nats-server with JetStream: its bookkeeping of claimed sessions
// stays bounded. An entry goes when its session is released (the key is free for another node
// at once) and when it was not renewed for longer than the bucket's TTL (its key has aged out,
// so another node may claim it), while a session in use keeps its entry.
#include "node/affinity.hpp"

#include "support/bus_fixture.hpp"
#include "support/nats_server.hpp"
#include "support/test_support.hpp"

#include <catch2/catch.hpp>

using namespace mcpd;
using namespace mcpd::test;
using node::Affinity;
using node::Membership;
using Decision = Affinity::Decision;

namespace {

// One node: its own connection, membership and affinity on the shared bucket.
struct TestNode {
  std::shared_ptr<bus::Connection> bus;
  Membership membership;
  Affinity affinity;

  TestNode(const NatsServer& server, const std::string& id, std::chrono::milliseconds ttl)
      : bus(connect(server, id)),
        membership(bus, "mcp.nodes.heartbeat", id, 100ms, 3000ms),
        affinity(bus, membership, options(ttl)) {
    REQUIRE(membership.start().ok());
    auto st = affinity.start();
    if (!st.ok()) FAIL(st.error().message);
  }

  static bus::KvOptions options(std::chrono::milliseconds ttl) {
    bus::KvOptions o;
    o.bucket = "mcp-sessions";
    o.ttl = ttl;
    return o;
  }
  Decision decide(const std::string& session) {
    auto r = affinity.resolve("fake", session);
    if (!r.ok()) FAIL(r.error().message);
    return r.value().decision;
  }
};

}  // namespace

TEST_CASE("affinity: a released session leaves the bookkeeping and its key is free for another node") {
  NatsServer server(with_jetstream());
  TestNode a(server, "node-a", 60s);
  TestNode b(server, "node-b", 60s);
  CHECK(a.decide("s1") == Decision::local);
  CHECK(a.decide("s2") == Decision::local);
  CHECK(a.affinity.owned() == 2);
  CHECK(b.decide("s1") == Decision::forward);  // a owns it, and a is alive

  // The pool closed s1 (idle, evicted) or refused to open it: the entry and the key go.
  a.affinity.release("fake", "s1");
  CHECK(a.affinity.owned() == 1);
  CHECK(b.decide("s1") == Decision::local);
  CHECK(b.affinity.owned() == 1);
  a.affinity.release("fake", "never-claimed");  // nothing to let go: no change
  CHECK(a.affinity.owned() == 1);
}

TEST_CASE("affinity: an entry not renewed for longer than the bucket ttl is swept while a session in use stays") {
  NatsServer server(with_jetstream());
  const auto ttl = 1500ms;
  TestNode a(server, "node-a", ttl);
  TestNode b(server, "node-b", ttl);
  const auto claimed = std::chrono::steady_clock::now();  // every idle key is renewed after this
  for (int i = 0; i < 20; ++i) REQUIRE(a.decide("idle-" + std::to_string(i)) == Decision::local);
  REQUIRE(a.decide("busy") == Decision::local);
  CHECK(a.affinity.owned() == 21);

  // Only "busy" is called from now on: its ownership is renewed, the others age out.
  const auto start = std::chrono::steady_clock::now();
  bool swept = wait_until(
      [&] {
        if (a.decide("busy") != Decision::local) return false;
        return a.affinity.owned() == 1;
      },
      20s, 20ms);
  const auto took = std::chrono::steady_clock::now() - start;
  INFO("owned " << a.affinity.owned() << " after "
                << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms");
  REQUIRE(swept);
  CHECK(std::chrono::steady_clock::now() - claimed > ttl);  // never before the keys can have expired

  // The bucket agrees: another node finds the idle keys gone and claims them, while "busy" is
  // still a's.
  CHECK(wait_until([&] { return b.decide("idle-0") == Decision::local; }, 10s, 50ms));
  CHECK(b.decide("busy") == Decision::forward);
  CHECK(a.affinity.owned() == 1);
}
