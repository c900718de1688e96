// node::Membership against a real nats-server: a node is in the cluster from its first
// heartbeat, leaves when it says goodbye, when its heartbeats stop for the timeout, or when NATS
// says nobody serves it (mark_gone, probe), and comes back with its next heartbeat. Each change
// is logged once; wait_gone() returns as soon as a node is gone.
#include "node/membership.hpp"

#include "support/bus_fixture.hpp"
#include "support/log_capture.hpp"
#include "support/nats_server.hpp"
#include "support/test_support.hpp"

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <thread>

using namespace mcpd;
using namespace mcpd::test;
using node::Membership;
using Clock = std::chrono::steady_clock;

namespace {

const std::string kSubject = "mcp.nodes.heartbeat";

void heartbeat(bus::Connection& c, const std::string& node) {
  REQUIRE(c.publish(kSubject, nlohmann::json{{"node", node}}.dump()).ok());
}

}  // namespace

TEST_CASE("membership: a node whose heartbeats stop is logged as gone once and is back with its next heartbeat") {
  LogCapture log;
  NatsServer server;
  auto c = connect(server);
  Membership m(c, kSubject, "node-a", 50ms, 300ms);
  REQUIRE(m.start().ok());

  const auto sent = Clock::now();  // the heartbeat is received after this
  heartbeat(*c, "ghost");
  REQUIRE(wait_until([&] { return log.count("node ghost is in the cluster") == 1; }, 5s, 5ms));
  CHECK(m.alive("ghost"));
  // Silent from now on, as a SIGKILLed node is: the ticker notices and says so.
  REQUIRE(wait_until([&] { return log.count("node ghost left the cluster: no heartbeat for") == 1; }, 5s, 5ms));
  CHECK(Clock::now() - sent >= 300ms);
  CHECK_FALSE(m.alive("ghost"));
  CHECK(m.live_nodes() == std::vector<std::string>{"node-a"});  // its own heartbeats only

  heartbeat(*c, "ghost");
  REQUIRE(wait_until([&] { return log.count("node ghost is in the cluster") == 2; }, 5s, 5ms));
  CHECK(m.alive("ghost"));
  // The ticker ran many times in between: the departure was logged once.
  CHECK(log.count("node ghost left the cluster") == 1);

  // wait_gone() returns once its heartbeats time out, not at the end of its own wait.
  const auto waiting = Clock::now();
  CHECK(m.wait_gone("ghost", 10s));
  CHECK(Clock::now() - waiting < 5s);
}

TEST_CASE("membership: mark_gone and a probe that finds no responders take a node for gone until it beats again") {
  LogCapture log;
  NatsServer server;
  auto c = connect(server);
  Membership m(c, kSubject, "node-a", 50ms, 5000ms);
  m.set_probe([](const std::string& node) {
    return node == "dead" ? Membership::Presence::gone : Membership::Presence::unknown;
  });
  REQUIRE(m.start().ok());
  heartbeat(*c, "node-b");
  heartbeat(*c, "dead");
  REQUIRE(wait_until([&] { return log.count("node dead is in the cluster") == 1; }, 5s, 5ms));
  REQUIRE(wait_until([&] { return log.count("node node-b is in the cluster") == 1; }, 5s, 5ms));

  // Its heartbeat is fresh, but NATS says nobody serves it: gone now, not in 5 s.
  m.mark_gone("node-b", "nobody serves mcp.nodes.node-b.fake.execute any more");
  m.mark_gone("node-b", "said twice");
  CHECK_FALSE(m.alive("node-b"));
  CHECK(log.count("node node-b left the cluster: nobody serves mcp.nodes.node-b.fake.execute any more") == 1);
  CHECK(log.count("said twice") == 0);
  CHECK(m.wait_gone("node-b", 0ms));

  CHECK(m.probe("dead") == Membership::Presence::gone);
  CHECK_FALSE(m.alive("dead"));
  CHECK(log.count("node dead left the cluster: NATS has no responders for it") == 1);
  CHECK(m.probe("node-c") == Membership::Presence::unknown);
  CHECK(m.alive("node-c"));  // never heard from, and this node has just started: unknown is not gone
  CHECK(m.probe("node-a") == Membership::Presence::there);  // itself

  heartbeat(*c, "node-b");
  REQUIRE(wait_until([&] { return m.alive("node-b"); }, 5s, 5ms));
  CHECK(log.count("node node-b is in the cluster") == 2);
}

TEST_CASE("membership: a node that says goodbye is gone at once and wait_gone returns for it") {
  LogCapture log;
  NatsServer server;
  auto ca = connect(server, "a");
  auto cb = connect(server, "b");
  Membership a(ca, kSubject, "node-a", 50ms, 10000ms);
  Membership b(cb, kSubject, "node-b", 50ms, 10000ms);
  REQUIRE(a.start().ok());
  REQUIRE(b.start().ok());
  REQUIRE(wait_until([&] { return log.count("node node-b is in the cluster") >= 1; }, 5s, 5ms));
  // Alive and beating: wait_gone gives up after its own wait.
  CHECK_FALSE(a.wait_gone("node-b", 200ms));

  // Leaves while a waits: a is woken by the goodbye, not by its 10 s heartbeat timeout.
  std::thread goodbye([&] { b.leave(); });
  const auto waiting = Clock::now();
  CHECK(a.wait_gone("node-b", 8s));
  CHECK(Clock::now() - waiting < 5s);
  goodbye.join();
  CHECK_FALSE(a.alive("node-b"));
  CHECK(log.count("node node-b left the cluster: it said goodbye") == 1);
}
