// mcpd_bench_cluster: a 3-node cluster on loopback (three clustered nats-servers with
// JetStream, three mcpd, the native fake MCP server on each), measured two ways:
//   throughput  unaffine calls (no session_id) at one concurrency, with 3, then 2, then 1 live
//               nodes (nodes are stopped with SIGTERM between measurements);
//   affinity    sequential calls of one session entering through the NATS server of the node
//               that owns it, beside entering through another node's server (which forwards).
// Numbers only: see bench/README.md.

#include "bus/connection.hpp"
#include "support/cluster.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <iostream>
#include <thread>

namespace mcpd::bench {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

struct Latency {
  double p50 = 0, p99 = 0;
};

Latency percentiles(std::vector<double> us) {
  if (us.empty()) return {};
  std::sort(us.begin(), us.end());
  return {us[us.size() / 2], us[std::min(us.size() - 1, us.size() * 99 / 100)]};
}

// `threads` callers, each with calls in a closed loop for `seconds`; calls/s and errors.
std::pair<double, std::size_t> throughput(const std::vector<std::shared_ptr<bus::Connection>>& clients, int threads,
                                          double seconds) {
  std::atomic<std::size_t> ok{0}, failed{0};
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  const auto start = Clock::now();
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      auto& c = clients[static_cast<std::size_t>(t) % clients.size()];
      const std::string body = Json{{"tool", "echo"}, {"args", {{"message", "t" + std::to_string(t)}}}}.dump();
      while (Clock::now() < deadline) {
        auto r = c->request("mcp.fake.execute", body, 10s);
        (r.ok() && r.value().data().find("\"result\"") != std::string_view::npos ? ok : failed)++;
      }
    });
  }
  for (auto& t : ts) t.join();
  return {static_cast<double>(ok) / std::chrono::duration<double>(Clock::now() - start).count(), failed.load()};
}

Latency affine(bus::Connection& c, const std::string& session, int calls, std::size_t& errors) {
  std::vector<double> us;
  const std::string body = Json{{"tool", "echo"}, {"args", {{"message", "a"}}}, {"session_id", session}}.dump();
  for (int i = 0; i < calls; ++i) {
    auto t0 = Clock::now();
    auto r = c.request("mcp.fake.execute", body, 10s);
    if (!r.ok() || r.value().data().find("\"result\"") == std::string_view::npos) ++errors;
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  return percentiles(std::move(us));
}

int owner_of(test::TestCluster& cluster, const std::string& /*session*/) {
  for (int i = 0; i < test::TestCluster::kSize; ++i) {
    auto r = cluster.control().request("$SRV.STATS.mcpd." + test::TestCluster::node_id(i), "", 2s);
    if (!r.ok()) continue;
    Json j = Json::parse(r.value().data(), nullptr, false);
    if (j.is_object() && j["data"]["servers"]["fake"].value("isolated_sessions", 0) > 0) return i;
  }
  return -1;
}

int run(int threads, double seconds, int calls) {
  spdlog::set_level(spdlog::level::warn);
  test::TestClusterOptions o;  // info logs: the harness waits for each node's "serving" line
  test::TestCluster cluster(o);
  std::vector<std::shared_ptr<bus::Connection>> clients;
  for (int i = 0; i < 3; ++i) clients.push_back(cluster.connect({i}, "bench-" + std::to_string(i)));
  // Warm up: every node's pool starts its sessions and learns the tool list.
  throughput(clients, threads, 1.0);

  // Affinity first, with all three nodes.
  std::size_t errors = 0;
  const std::string session = "bench-session";
  affine(*clients[0], session, 10, errors);
  const int owner = owner_of(cluster, session);
  if (owner < 0) throw std::runtime_error("could not find the session's owner");
  const int other = (owner + 1) % 3;
  affine(*clients[owner], session, 50, errors);
  affine(*clients[other], session, 50, errors);
  Latency via_owner = affine(*clients[owner], session, calls, errors);
  Latency via_other = affine(*clients[other], session, calls, errors);
  Json unaffine_seq;
  {
    std::vector<double> us;
    for (int i = 0; i < calls; ++i) {
      auto t0 = Clock::now();
      auto r = clients[owner]->request("mcp.fake.execute", R"({"tool":"echo","args":{"message":"u"}})", 10s);
      if (!r.ok()) ++errors;
      us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    }
    auto l = percentiles(std::move(us));
    unaffine_seq = {{"p50_us", l.p50}, {"p99_us", l.p99}};
  }

  std::printf("affine calls of one session, sequential, %d calls each (owner: %s)\n", calls,
              test::TestCluster::node_id(owner).c_str());
  std::printf("  %-34s p50 %8.1f us   p99 %8.1f us\n", "entering through the owner's NATS", via_owner.p50, via_owner.p99);
  std::printf("  %-34s p50 %8.1f us   p99 %8.1f us\n", "entering through another node's NATS", via_other.p50, via_other.p99);
  std::printf("  %-34s p50 %8.1f us   p99 %8.1f us\n", "no session id (for comparison)", unaffine_seq["p50_us"].get<double>(),
              unaffine_seq["p99_us"].get<double>());

  std::printf("\nunaffine calls, %d callers spread over the live nodes' NATS servers, %.0f s each\n", threads, seconds);
  for (int live = 3; live >= 1; --live) {
    std::vector<std::shared_ptr<bus::Connection>> up(clients.begin(), clients.begin() + live);
    auto [rate, failed] = throughput(up, threads, seconds);
    std::printf("  %d node%s  %10.0f calls/s   errors %zu\n", live, live == 1 ? " " : "s", rate, failed);
    errors += failed;
    if (live > 1) cluster.stop_node(live - 1);
  }
  std::printf("\ntotal errors: %zu\n", errors);
  return errors == 0 ? 0 : 1;
}

}  // namespace
}  // namespace mcpd::bench

int main(int argc, char** argv) {
  int threads = 32, calls = 2000;
  double seconds = 4;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--concurrency") threads = std::stoi(argv[i + 1]);
    else if (a == "--seconds") seconds = std::stod(argv[i + 1]);
    else if (a == "--calls") calls = std::stoi(argv[i + 1]);
    else {
      std::cerr << "usage: mcpd_bench_cluster [--concurrency N (32)] [--seconds S (4)] [--calls N (2000)]\n";
      return 2;
    }
  }
  try {
    return mcpd::bench::run(threads, seconds, calls);
  } catch (const std::exception& e) {
    std::cerr << "mcpd_bench_cluster: " << e.what() << "\n";
    return 1;
  }
}
