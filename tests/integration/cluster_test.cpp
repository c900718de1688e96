// The cluster end to end: three clustered nats-servers with JetStream and three real mcpd
// nodes on loopback (tests/support/cluster.hpp), the native fake MCP server as "fake". What a
// user of a cluster relies on: unaffine calls spread over every node; a session is answered by
// one process whichever node NATS hands its calls to; a call forwarded to a session's owner is
// acknowledged and answered to the caller; a dead owner's session is taken over by the very next
// call (session_reset); SIGTERM drains without a failed call; SIGKILL fails only that node's
// in-flight calls; losing a nats-server costs no mcpd. (The catalog's convergence is in
// cluster_catalog_test.cpp.) Loads are bounded in count and time; every wait polls with a deadline.
#include "bus/connection.hpp"
#include "bus/kv.hpp"
#include "support/cluster.hpp"
#include "support/test_support.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

using namespace mcpd;
using namespace mcpd::test;
using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kTestBound = std::chrono::seconds(60);  // generous: each test takes far less

struct Outcome {
  bool ok = false;
  Json body;          // the reply (null when the request itself failed)
  std::string error;  // why not ok
  Clock::time_point start, end;
};

// One tool call; ok only for a reply with a result and no error.
Outcome call(bus::Connection& c, const std::string& server, const Json& body,
             std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  Outcome o;
  o.start = Clock::now();
  auto r = c.request("mcp." + server + ".execute", body.dump(), timeout);
  o.end = Clock::now();
  if (!r.ok()) {
    o.error = r.error().message;
    return o;
  }
  o.body = Json::parse(r.value().data(), nullptr, false);
  if (!o.body.is_object()) {
    o.error = "not a JSON object: " + std::string(r.value().data());
  } else if (o.body.contains("error")) {
    o.error = o.body.dump();
  } else if (!o.body.contains("result")) {
    o.error = "no result: " + o.body.dump();
  } else {
    o.ok = true;
  }
  return o;
}

std::string text(const Outcome& o) {
  if (!o.ok) return "<failed: " + o.error + ">";
  return o.body["result"].is_string() ? o.body["result"].get<std::string>() : o.body["result"].dump();
}

// `threads` callers, each calling `one(thread)` again and again until stop(), `max_calls` calls
// in all, or `max_time`, whichever comes first. Runs in the background.
class Load {
 public:
  Load(int threads, std::size_t max_calls, std::chrono::milliseconds max_time, std::function<Outcome(int)> one)
      : one_(std::move(one)), max_calls_(max_calls), deadline_(Clock::now() + max_time) {
    for (int t = 0; t < threads; ++t)
      threads_.emplace_back([this, t] {
        std::vector<Outcome> mine;
        while (!stop_ && Clock::now() < deadline_ && started_.fetch_add(1) < max_calls_) {
          mine.push_back(one_(t));
          (mine.back().ok ? ok_ : failed_)++;
        }
        std::lock_guard lock(mu_);
        all_.insert(all_.end(), mine.begin(), mine.end());
      });
  }
  ~Load() { stop(); }
  // Waits for the callers to run out of calls or time.
  std::vector<Outcome> join() {
    for (auto& t : threads_)
      if (t.joinable()) t.join();
    std::lock_guard lock(mu_);
    return all_;
  }
  std::vector<Outcome> stop() {
    stop_ = true;
    return join();
  }
  std::size_t ok() const { return ok_; }
  std::size_t failed() const { return failed_; }

 private:
  std::function<Outcome(int)> one_;
  std::size_t max_calls_;
  Clock::time_point deadline_;
  std::atomic<bool> stop_{false};
  std::atomic<std::size_t> started_{0}, ok_{0}, failed_{0};
  std::mutex mu_;
  std::vector<Outcome> all_;
  std::vector<std::thread> threads_;
};

std::string first_failures(const std::vector<Outcome>& all, std::size_t n = 5) {
  std::string out;
  for (const auto& o : all)
    if (!o.ok && n-- > 0) out += "  " + o.error + "\n";
  return out;
}

std::uint64_t calls_of(TestCluster& c, int node) {
  auto s = c.server_stats(node, "fake");
  return s.is_object() && s.contains("calls") ? s["calls"].get<std::uint64_t>() : 0;
}

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

}  // namespace

TEST_CASE("cluster: unaffine calls through one nats-server spread over every node") {
  const auto t0 = Clock::now();
  TestCluster cluster;
  auto client = cluster.connect({0});
  std::array<std::uint64_t, 3> before{};
  for (int i = 0; i < 3; ++i) before[i] = calls_of(cluster, i);

  constexpr std::size_t kCalls = 3000;
  Load load(16, kCalls, std::chrono::seconds(40), [&](int) { return call(*client, "fake", {{"tool", "pid"}}); });
  auto all = load.join();
  INFO("calls took " << seconds_since(t0) << " s since the cluster started; failures:\n" << first_failures(all));
  REQUIRE(all.size() == kCalls);
  CHECK(load.failed() == 0);

  std::array<std::uint64_t, 3> served{};
  std::uint64_t total = 0;
  for (int i = 0; i < 3; ++i) {
    served[i] = calls_of(cluster, i) - before[i];
    total += served[i];
  }
  INFO("served by node-1/2/3: " << served[0] << " / " << served[1] << " / " << served[2] << "\n" << cluster.logs(10));
  CHECK(total == kCalls);
  for (int i = 0; i < 3; ++i) CHECK(served[i] >= kCalls * 15 / 100);
  CHECK(Clock::now() - t0 < kTestBound);
}

TEST_CASE("cluster: each of 300 sessions entered through random nats-servers is answered by one process") {
  const auto t0 = Clock::now();
  TestCluster cluster;
  auto clients = cluster.connect_each();
  constexpr int kSessions = 300, kCallsEach = 4, kThreads = 16;
  const std::string run = std::to_string(::getpid());
  std::atomic<int> next{0}, finished{0};
  std::mutex mu;
  std::vector<std::string> wrong;  // "session: answers" for every session that did not count 1..4
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t * 7919 + 17));
      for (int s = next++; s < kSessions && Clock::now() - t0 < std::chrono::seconds(45); s = next++) {
        const std::string sid = "sess-" + run + "-" + std::to_string(s);
        std::string got;
        bool good = true;
        for (int k = 1; k <= kCallsEach; ++k) {
          auto& c = *clients[rng() % 3];
          auto o = call(c, "fake", {{"tool", "counter"}, {"session_id", sid}});
          got += (k > 1 ? "," : "") + text(o);
          if (!o.ok || text(o) != std::to_string(k) || o.body.contains("session_reset")) good = false;
        }
        ++finished;
        if (!good) {
          std::lock_guard lock(mu);
          wrong.push_back(sid + ": " + got);
        }
      }
    });
  for (auto& t : threads) t.join();
  std::string shown;
  for (std::size_t i = 0; i < wrong.size() && i < 10; ++i) shown += "  " + wrong[i] + "\n";
  INFO(wrong.size() << " sessions went wrong, e.g.:\n" << shown << cluster.logs(15));
  REQUIRE(finished.load() == kSessions);  // every session ran (not cut short by the time bound)
  CHECK(wrong.empty());

  // One MCP session (process) per session_id in the whole cluster: never two.
  int isolated = 0;
  std::array<int, 3> per_node{};
  for (int i = 0; i < 3; ++i) {
    auto s = cluster.server_stats(i, "fake");
    per_node[i] = s.value("isolated_sessions", 0);
    isolated += per_node[i];
  }
  INFO("isolated sessions on node-1/2/3: " << per_node[0] << " / " << per_node[1] << " / " << per_node[2]);
  CHECK(isolated == kSessions);
  CHECK(Clock::now() - t0 < kTestBound);
}

TEST_CASE("cluster: a session whose owner is SIGKILLed is taken over by a live node with session_reset") {
  const auto t0 = Clock::now();
  TestCluster cluster;
  auto via1 = cluster.connect({0});
  const std::string sid = "takeover-" + std::to_string(::getpid());
  const Json counter = {{"tool", "counter"}, {"session_id", sid}};
  auto owner_of_session = [&](bus::Connection& c) {
    auto pid = call(c, "fake", {{"tool", "pid"}, {"session_id", sid}});
    return pid.ok ? cluster.node_of_child(std::stol(text(pid))) : -1;
  };
  REQUIRE(text(call(*via1, "fake", counter)) == "1");
  REQUIRE(text(call(*via1, "fake", counter)) == "2");
  const int owner = owner_of_session(*via1);
  INFO("the session's owner: " << (owner < 0 ? "no node" : TestCluster::node_id(owner)));
  REQUIRE(owner >= 0);

  const int owners_server = cluster.server_of_node(owner);
  REQUIRE(owners_server >= 0);
  auto other = cluster.connect({(owners_server + 1) % 3});  // a nats-server the owner does not use
  cluster.kill_node(owner);
  const auto killed = Clock::now();
  // The kill is complete once its nats-server has seen the connection close (milliseconds: its
  // MCP servers hold no copy of the socket). A call NATS handed to the process in the instant
  // before it died is lost with it, like any call in flight there.
  REQUIRE(wait_until([&] { return cluster.server_of_node(owner) < 0; }, 5s, 1ms));
  // At once — its heartbeats are fresh, and the node subject it served still has interest (every
  // node's <prefix>.> queue subscription) — one call through a nats-server it was not using, with
  // a caller's timeout of 30 s: the node that takes it does not get the forward accepted, finds
  // the owner gone and takes the session over instead of losing the call.
  auto first = call(*other, "fake", counter, std::chrono::seconds(30));
  const double took = std::chrono::duration<double>(first.end - killed).count();
  INFO("first answer after the kill: " << (first.ok ? first.body.dump() : first.error) << " after " << took << " s\n"
                                       << cluster.logs(20));
  REQUIRE(first.ok);
  CHECK(first.body.value("session_reset", false) == true);
  CHECK(text(first) == "1");  // a fresh session: its state is gone
  CHECK(took < 5.0);
  // The surviving nodes notice the death and say so.
  const std::string left = "node " + TestCluster::node_id(owner) + " left the cluster";
  CHECK(wait_until(
      [&] {
        for (int i = 0; i < 3; ++i)
          if (i != owner && cluster.node(i).log().find(left) != std::string::npos) return true;
        return false;
      },
      10s, 20ms));
  // The new owner keeps the session from now on, through any entry point.
  auto second = call(*cluster.connect({(owner + 2) % 3}), "fake", counter);
  CHECK(text(second) == "2");
  CHECK_FALSE(second.body.contains("session_reset"));
  const int new_owner = owner_of_session(*other);
  REQUIRE(new_owner >= 0);
  CHECK(new_owner != owner);

  // The new owner crashes and comes back under the same id (its ownership record still names
  // it). A call forwarded to it, as a non-owner node forwards one, must say the state is gone.
  cluster.kill_node(new_owner);
  cluster.restart_node(new_owner);
  auto forwarded = other->request("mcp.nodes." + TestCluster::node_id(new_owner) + ".fake.execute", counter.dump(), 10s);
  REQUIRE(forwarded.ok());
  Json fwd = Json::parse(forwarded.value().data(), nullptr, false);
  INFO("forwarded to the restarted owner: " << fwd.dump());
  CHECK(fwd.value("session_reset", false) == true);
  CHECK(fwd.value("result", Json()) == "1");
  auto after = call(*via1, "fake", counter);
  CHECK(text(after) == "2");
  CHECK_FALSE(after.body.contains("session_reset"));
  CHECK(Clock::now() - t0 < kTestBound);
}

TEST_CASE("cluster: a session whose owner stays connected but silent gets unavailable then is taken over when its heartbeats stop") {
  const auto t0 = Clock::now();
  TestCluster cluster;
  // The owner is played by this test as node-9: connected to NATS (so NATS delivers to it, as to
  // a dead node whose connection outlives it, or a frozen one) but it accepts nothing.
  auto zombie = cluster.connect({1}, "mcpd/node-9");
  std::atomic<bool> beating{true}, answers_ping{true};
  std::atomic<int> forwarded{0}, with_reply_to{0};
  auto swallow = zombie->subscribe("mcp.nodes.node-9.>", [&](bus::Message m) {
    if (m.subject() == "mcp.nodes.node-9.fake.execute") ++forwarded;
    if (m.header("Mcpd-Reply-To")) ++with_reply_to;
  });
  REQUIRE(swallow.ok());
  auto ping = zombie->subscribe("$SRV.PING.mcpd.node-9", [&](bus::Message m) {
    if (answers_ping) (void)zombie->respond(m.reply(), R"({"id":"node-9"})");
  });
  REQUIRE(ping.ok());
  std::thread heart([&] {
    while (beating) {
      (void)zombie->publish("mcp.nodes.heartbeat", R"({"node":"node-9"})");
      wait_until([&] { return !beating.load(); }, 200ms, 10ms);
    }
  });
  struct Join {
    std::atomic<bool>& flag;
    std::thread& t;
    ~Join() {
      flag = false;
      if (t.joinable()) t.join();
    }
  } join{beating, heart};
  REQUIRE(wait_until(
      [&] {
        for (int i = 0; i < 3; ++i)
          if (cluster.node(i).log().find("node node-9 is in the cluster") == std::string::npos) return false;
        return true;
      },
      10s, 20ms));

  // node-9 owns the session, as the affinity bucket records it (key: server "." hex(session id)).
  const std::string sid = "silent-" + std::to_string(::getpid());
  std::string key = "fake.";
  for (unsigned char ch : sid) {
    static const char* hex = "0123456789abcdef";
    key.push_back(hex[ch >> 4]);
    key.push_back(hex[ch & 0xf]);
  }
  bus::KvOptions ko;
  ko.bucket = "mcp-sessions";
  ko.replicas = 3;
  ko.ttl = 60s;
  auto kv = bus::KeyValue::open(cluster.control(), ko);
  REQUIRE(kv.ok());
  REQUIRE(kv.value()->put(key, R"({"node":"node-9"})").ok());
  const Json counter = {{"tool", "counter"}, {"session_id", sid}};
  auto caller = cluster.connect({0});

  // It answers the probe: up, but it did not accept the call. The caller hears so at once.
  auto refused = call(*caller, "fake", counter, 30s);
  const double refused_after = std::chrono::duration<double>(refused.end - refused.start).count();
  INFO("while node-9 answers pings: " << (refused.ok ? refused.body.dump() : refused.error) << " after "
                                      << refused_after << " s");
  REQUIRE_FALSE(refused.ok);
  CHECK(refused.body.value("code", "") == "unavailable");
  CHECK(refused.body.value("error", "").find("node node-9") != std::string::npos);
  CHECK(refused_after < 5.0);
  CHECK(forwarded.load() >= 1);
  CHECK(with_reply_to.load() == forwarded.load());

  // Now silent on every subject (still connected) and no more heartbeats: its heartbeats decide.
  answers_ping = false;
  beating = false;
  heart.join();
  const auto silent = Clock::now();
  auto first = call(*caller, "fake", counter, 30s);
  const double took = std::chrono::duration<double>(first.end - silent).count();
  INFO("once node-9 is silent: " << (first.ok ? first.body.dump() : first.error) << " after " << took << " s\n"
                                 << cluster.logs(20));
  REQUIRE(first.ok);
  CHECK(first.body.value("session_reset", false) == true);
  CHECK(text(first) == "1");
  // Its heartbeats time out 3.5 s after the last one; then a fresh session starts (slow on a
  // loaded machine).
  CHECK(took < 8.0);
  CHECK(wait_until(
      [&] {
        for (int i = 0; i < 3; ++i)
          if (cluster.node(i).log().find("node node-9 left the cluster: no heartbeat for") != std::string::npos)
            return true;
        return false;
      },
      10s, 20ms));
  auto second = call(*cluster.connect({2}), "fake", counter);
  CHECK(text(second) == "2");
  CHECK_FALSE(second.body.contains("session_reset"));
  CHECK(Clock::now() - t0 < kTestBound);
}

TEST_CASE("cluster: a call forwarded with Mcpd-Reply-To is acknowledged to the forwarder and answered to the caller") {
  const auto t0 = Clock::now();
  TestCluster cluster;
  auto via1 = cluster.connect({0});
  const std::string sid = "reply-to-" + std::to_string(::getpid());
  const Json counter = {{"tool", "counter"}, {"session_id", sid}};
  REQUIRE(text(call(*via1, "fake", counter)) == "1");
  auto pid = call(*via1, "fake", {{"tool", "pid"}, {"session_id", sid}});
  REQUIRE(pid.ok);
  const int owner = cluster.node_of_child(std::stol(text(pid)));
  REQUIRE(owner >= 0);
  const std::string subject = "mcp.nodes." + TestCluster::node_id(owner) + ".fake.execute";

  // The caller and the forwarder, as a test can be both: one client on a nats-server the owner
  // does not use, its inbox subscribed before the forward (as a caller's is before its request).
  auto client = cluster.connect({(cluster.server_of_node(owner) + 1) % 3});
  const std::string inbox = client->new_inbox();
  std::mutex mu;
  std::vector<std::pair<std::string, bus::Headers>> answers;
  auto sub = client->subscribe(inbox, [&](bus::Message m) {
    std::lock_guard lock(mu);
    answers.emplace_back(std::string(m.data()), m.headers());
  });
  REQUIRE(sub.ok());
  auto answered = [&] {
    std::lock_guard lock(mu);
    return answers.size();
  };

  auto ack = client->request(subject, counter.dump(), 10s, {{"Mcpd-Reply-To", inbox}});
  REQUIRE(ack.ok());
  CHECK(ack.value().header("Mcpd-Accepted") == std::optional<std::string>("true"));
  CHECK(Json::parse(ack.value().data(), nullptr, false) == Json{{"accepted", true}});
  REQUIRE(wait_until([&] { return answered() == 1; }, 10s, 5ms));
  {
    std::lock_guard lock(mu);
    Json answer = Json::parse(answers[0].first, nullptr, false);
    INFO("the caller got: " << answers[0].first);
    CHECK(answer.value("result", Json()) == "2");  // the owner's session: its state is there
    CHECK_FALSE(answer.contains("session_reset"));
  }

  // A header that is not a plain subject is refused to the request's own reply subject, and the
  // call is not run.
  for (const std::string& bad : std::vector<std::string>{"_INBOX.*", "_INBOX.>", "two words", "a..b", ".a", std::string(600, 'x')}) {
    auto r = client->request(subject, counter.dump(), 10s, {{"Mcpd-Reply-To", bad}});
    REQUIRE(r.ok());
    Json body = Json::parse(r.value().data(), nullptr, false);
    INFO("Mcpd-Reply-To: " << bad << " -> " << body.dump());
    CHECK(body.value("code", "") == "invalid_request");
    CHECK(body.value("error", "").find("Mcpd-Reply-To") != std::string::npos);
    CHECK_FALSE(r.value().header("Mcpd-Accepted").has_value());
  }
  // Without the header, the call is answered to the request's reply subject, as always.
  auto plain = client->request(subject, counter.dump(), 10s);
  REQUIRE(plain.ok());
  CHECK(Json::parse(plain.value().data(), nullptr, false).value("result", Json()) == "3");
  CHECK(answered() == 1);  // nothing more reached the caller's inbox
  CHECK(text(call(*via1, "fake", counter)) == "4");
  CHECK(Clock::now() - t0 < kTestBound);
}

TEST_CASE("cluster: SIGTERM on a node under load drains with zero failed calls") {
  const auto t0 = Clock::now();
  TestCluster cluster;
  auto client = cluster.connect({0, 1, 2});
  const auto node2_before = calls_of(cluster, 1);
  Load load(8, 1200, std::chrono::seconds(10), [&](int) {
    return call(*client, "fake", {{"tool", "sleep"}, {"args", {{"ms", 50}}}}, std::chrono::seconds(5));
  });
  // node-2 is busy with its share of the load before it is told to stop.
  REQUIRE(wait_until([&] { return calls_of(cluster, 1) >= node2_before + 20; }, 10s, 20ms));
  const auto ok_at_term = load.ok();
  cluster.node(1).signal(SIGTERM);
  const auto termed = Clock::now();
  auto status = cluster.node(1).wait_exit(std::chrono::seconds(20));
  const double exit_after = seconds_since(termed);
  // The others keep serving after node-2 is gone.
  const auto ok_at_exit = load.ok();
  bool more = wait_until([&] { return load.ok() >= ok_at_exit + 40; }, 5s, 10ms);
  auto all = load.stop();
  INFO(all.size() << " calls, " << load.failed() << " failed; node-2 exited after " << exit_after << " s; failures:\n"
                  << first_failures(all) << cluster.logs(25));
  CHECK(load.failed() == 0);
  REQUIRE(status.has_value());
  CHECK(*status == 0);
  CHECK(ok_at_exit > ok_at_term);
  CHECK(more);
  CHECK(cluster.node(1).log().find("drain timeout") == std::string::npos);
  CHECK(Clock::now() - t0 < kTestBound);
}

TEST_CASE("cluster: SIGTERM on the owner of busy sessions drains with zero failed calls") {
  const auto t0 = Clock::now();
  TestCluster cluster;
  auto clients = cluster.connect_each();
  constexpr int kCallers = 8;
  const std::string run = std::to_string(::getpid());
  auto sid_of = [&](int t) { return "drain-" + run + "-" + std::to_string(t); };
  // Each caller has a session of its own; the node that owns most of them is stopped.
  std::array<int, 3> owned{};
  for (int t = 0; t < kCallers; ++t) {
    auto pid = call(*clients[t % 3], "fake", {{"tool", "pid"}, {"session_id", sid_of(t)}});
    REQUIRE(pid.ok);
    int n = cluster.node_of_child(std::stol(text(pid)));
    REQUIRE(n >= 0);
    ++owned[n];
  }
  const int victim = static_cast<int>(std::max_element(owned.begin(), owned.end()) - owned.begin());
  std::array<std::vector<long>, kCallers> counts;  // per caller: the counter values it saw, in order
  std::array<std::mt19937, kCallers> rngs;
  for (int t = 0; t < kCallers; ++t) rngs[t].seed(static_cast<unsigned>(t + 1));
  Load load(kCallers, 3000, std::chrono::seconds(12), [&](int t) {
    auto o = call(*clients[rngs[t]() % 3], "fake", {{"tool", "counter"}, {"session_id", sid_of(t)}}, 5s);
    if (o.ok) counts[t].push_back(std::stol(text(o)));
    return o;
  });
  REQUIRE(wait_until([&] { return load.ok() >= 200; }, 10s, 10ms));
  cluster.node(victim).signal(SIGTERM);
  auto status = cluster.node(victim).wait_exit(std::chrono::seconds(20));
  const auto ok_at_exit = load.ok();
  bool more = wait_until([&] { return load.ok() >= ok_at_exit + 200; }, 5s, 10ms);
  auto all = load.stop();
  // Within one session the counter only goes up by one, or starts again at 1 on a new owner:
  // never two processes answering one session at once.
  std::string interleaved;
  for (int t = 0; t < kCallers; ++t)
    for (std::size_t i = 1; i < counts[t].size(); ++i)
      if (counts[t][i] != counts[t][i - 1] + 1 && counts[t][i] != 1)
        interleaved += " " + sid_of(t) + "@" + std::to_string(i) + ":" + std::to_string(counts[t][i - 1]) + "->" +
                       std::to_string(counts[t][i]);
  INFO("stopped " << TestCluster::node_id(victim) << " (it owned " << owned[victim] << " of " << kCallers
                  << " sessions); " << all.size() << " calls, " << load.failed() << " failed:\n"
                  << first_failures(all) << "interleaved:" << interleaved << "\n"
                  << cluster.logs(25));
  CHECK(load.failed() == 0);
  REQUIRE(status.has_value());
  CHECK(*status == 0);
  CHECK(more);
  CHECK(interleaved.empty());
  CHECK(cluster.node(victim).log().find("drain timeout") == std::string::npos);
  CHECK(Clock::now() - t0 < kTestBound);
}

TEST_CASE("cluster: SIGKILL on a node under load fails only its in-flight calls and the rate recovers in 2 s") {
  const auto t0 = Clock::now();
  TestCluster cluster;
  auto client = cluster.connect({0, 1, 2});
  constexpr int kCallers = 8;
  const auto node2_before = calls_of(cluster, 1);
  Load load(kCallers, 1500, std::chrono::seconds(12), [&](int) {
    return call(*client, "fake", {{"tool", "sleep"}, {"args", {{"ms", 50}}}}, std::chrono::seconds(2));
  });
  REQUIRE(wait_until([&] { return calls_of(cluster, 1) >= node2_before + 20; }, 10s, 20ms));
  cluster.kill_node(1);
  const auto killed = Clock::now();
  // The load runs on for 3.5 s after the kill (its own limits bound it too).
  wait_until([&] { return Clock::now() >= killed + 3500ms; }, 5s, 50ms);
  auto all = load.stop();

  std::size_t failed = 0, late_failed = 0, before_n = 0, after_n = 0;
  Clock::time_point first_start = Clock::time_point::max();
  for (const auto& o : all) first_start = std::min(first_start, o.start);
  for (const auto& o : all) {
    if (!o.ok) ++failed;
    if (!o.ok && o.start >= killed + 2s) ++late_failed;
    if (o.ok && o.end < killed) ++before_n;
    if (o.ok && o.start >= killed + 2s) ++after_n;
  }
  const double before_rate = before_n / std::max(1e-3, std::chrono::duration<double>(killed - first_start).count());
  Clock::time_point last_end = killed + 2s;
  for (const auto& o : all)
    if (o.start >= killed + 2s) last_end = std::max(last_end, o.end);
  const double after_rate = after_n / std::max(1e-3, std::chrono::duration<double>(last_end - (killed + 2s)).count());
  INFO(all.size() << " calls, " << failed << " failed (" << late_failed << " started 2 s after the kill); rate before "
                  << before_rate << "/s, from 2 s after the kill " << after_rate << "/s; failures:\n"
                  << first_failures(all) << cluster.logs(20));
  CHECK(failed <= static_cast<std::size_t>(kCallers));
  CHECK(late_failed == 0);
  CHECK(after_n > 0);
  // Recovered: calls flow at a rate of the same order as before (a node that kept sending calls
  // to the dead one would fail them, see late_failed). Not the full rate: two nodes left do the
  // work of three, and under the sanitizers on two CPUs one CI run saw 0.63 of it.
  CHECK(after_rate >= 0.5 * before_rate);
  CHECK(Clock::now() - t0 < kTestBound);
}

TEST_CASE("cluster: losing one nats-server costs no mcpd and serving resumes") {
  const auto t0 = Clock::now();
  TestCluster cluster;
  // Kill the nats-server that holds the most mcpd connections (at least one): the test client
  // uses the two others.
  std::array<int, 3> on{};
  for (int n = 0; n < 3; ++n) {
    int s = cluster.server_of_node(n);
    REQUIRE(s >= 0);
    ++on[s];
  }
  const int victim = static_cast<int>(std::max_element(on.begin(), on.end()) - on.begin());
  std::vector<int> moved;
  for (int n = 0; n < 3; ++n)
    if (cluster.server_of_node(n) == victim) moved.push_back(n);
  std::array<int, 3> pids{};
  for (int n = 0; n < 3; ++n) pids[n] = cluster.node(n).pid();
  std::vector<int> rest;
  for (int s = 0; s < 3; ++s)
    if (s != victim) rest.push_back(s);
  auto client = cluster.connect(rest);
  constexpr int kCallers = 8;
  Load load(kCallers, 4000, std::chrono::seconds(15), [&](int) {
    return call(*client, "fake", {{"tool", "pid"}}, std::chrono::seconds(2));
  });
  REQUIRE(wait_until([&] { return load.ok() >= 100; }, 10s, 10ms));
  cluster.kill_nats(victim);
  const auto killed = Clock::now();
  // Every node answers its own PING again (the moved ones through another server).
  bool all_back = wait_until(
      [&] {
        for (int n = 0; n < 3; ++n)
          if (!cluster.node_answers(n, 300ms)) return false;
        return true;
      },
      10s, 50ms);
  const auto back = Clock::now();
  const double back_after = std::chrono::duration<double>(back - killed).count();
  const auto ok_when_back = load.ok();
  bool serving = wait_until([&] { return load.ok() >= ok_when_back + 200; }, 10s, 10ms);
  auto all = load.stop();
  std::size_t failed_later = 0;  // calls started once every node answered again
  for (const auto& o : all)
    if (!o.ok && o.start >= back) ++failed_later;
  std::string moved_s;
  for (int n : moved) moved_s += " " + TestCluster::node_id(n);
  INFO("killed nats-server n" << victim + 1 << " (mcpd on it:" << moved_s << "); all nodes answered again after "
                              << back_after << " s; " << all.size() << " calls, " << load.failed()
                              << " failed; failures:\n"
                              << first_failures(all) << cluster.logs(20));
  CHECK(all_back);
  CHECK(serving);
  // Only calls caught in flight on the lost server fail; after recovery none does.
  CHECK(load.failed() <= static_cast<std::size_t>(kCallers));
  CHECK(failed_later == 0);
  for (int n : moved) {
    CHECK(cluster.node(n).log().find("reconnected to") != std::string::npos);
    int s = cluster.server_of_node(n);
    CHECK(s >= 0);
    CHECK(s != victim);
  }
  for (int n = 0; n < 3; ++n) {
    CHECK(cluster.node_alive(n));
    CHECK(cluster.node(n).pid() == pids[n]);  // no mcpd restarted
  }
  CHECK(Clock::now() - t0 < kTestBound);
}
