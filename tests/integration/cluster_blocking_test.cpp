// Nothing blocks the event loop: with the catalog of record stalled (JetStream without a
// quorum, so every key-value write waits out its timeout), an admin put waits on the blocking
// pool while tool calls on the same node keep being answered at their usual speed. Before the
// blocking pool, the put ran on the event loop and every call behind it waited seconds.
#include "bus/connection.hpp"
#include "support/cluster.hpp"
#include "support/test_support.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <future>
#include <thread>

using namespace mcpd;
using namespace mcpd::test;
using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

TEST_CASE("cluster: a tool call is not delayed by an admin put waiting on a stalled JetStream") {
  TestCluster cluster;
  // One node serves alone (the others stop); the caller uses the node's nats-server.
  REQUIRE(cluster.stop_node(1).has_value());
  REQUIRE(cluster.stop_node(2).has_value());
  const int own = cluster.server_of_node(0);
  REQUIRE(own >= 0);
  const int frozen[2] = {(own + 1) % 3, (own + 2) % 3};
  auto client = cluster.connect({own});
  auto call = [&] {
    const auto start = Clock::now();
    auto r = client->request("mcp.fake.execute", R"({"tool":"echo","args":{"message":"hi"}})", std::chrono::seconds(10));
    const auto took = Clock::now() - start;
    bool ok = r.ok() && Json::parse(r.value().data(), nullptr, false).value("result", "") == "hi";
    return std::make_pair(ok, took);
  };
  REQUIRE(call().first);

  // Freeze the two other nats-servers: the catalog bucket (3 replicas) has no quorum, and a
  // write waits for an acknowledgement that never comes.
  for (int f : frozen) cluster.nats(f).pause();
  const auto put_start = Clock::now();
  auto put = std::async(std::launch::async, [&] {
    Json server = {{"name", "stalled"}, {"transport", "stdio"}, {"command", MCPD_FAKE_SERVER}};
    auto r = client->request("mcp.admin.servers.put", server.dump(), std::chrono::seconds(30));
    return std::make_pair(r.ok() ? std::string(r.value().data()) : "request failed: " + r.error().message,
                          Clock::now() - put_start);
  });

  // Call while the put is pending (at most 10 s: the put gives up after its 5 s timeout).
  int calls = 0, failed = 0;
  Clock::duration slowest{0};
  while (put.wait_for(std::chrono::milliseconds(0)) != std::future_status::ready && Clock::now() - put_start < 10s) {
    auto [ok, took] = call();
    ++calls;
    if (!ok) ++failed;
    slowest = std::max(slowest, took);
  }
  auto [put_reply, put_took] = put.get();
  for (int f : frozen) cluster.nats(f).resume();

  const double slowest_ms = std::chrono::duration<double, std::milli>(slowest).count();
  const double put_s = std::chrono::duration<double>(put_took).count();
  INFO("put answered after " << put_s << " s: " << put_reply << "; " << calls << " calls meanwhile, " << failed
                             << " failed, slowest " << slowest_ms << " ms\n"
                             << cluster.logs(20));
  CHECK(put_s >= 2.0);  // the stall was real: the write waited for JetStream
  CHECK(calls >= 10);
  CHECK(failed == 0);
  CHECK(slowest_ms < 1000.0);  // generous: a call takes about a millisecond; the stall is 5 s
}
