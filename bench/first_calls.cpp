// mcpd_bench_first_calls: N callers each make the first call of a new session at the same
// moment (N new session_ids on one node, each an MCP server process of its own), and we report
// how long those first calls took: p50, p90, max. It measures what a burst of new agents costs
// when every one of them needs a server started for it. Numbers only: see bench/README.md.

#include "bus/connection.hpp"
#include "support/daemon_process.hpp"
#include "support/nats_server.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <barrier>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <thread>

namespace mcpd::bench {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

struct Options {
  int sessions = 100;
  int rounds = 1;
  std::string server = "everything";  // everything | fake
  std::string node_extra;             // more [node] keys, e.g. "max_concurrent_starts = 4"
  bool json = false;
};

void usage() {
  std::cout << R"(mcpd_bench_first_calls: the first calls of N new sessions, all at once, on one node.

Starts a nats-server and mcpd (the one this build made; MCPD_DAEMON=path runs another, e.g. an
older build to compare), registers one stdio server with isolation "session", then N callers
each send one call with a session_id of their own at the same moment: mcpd starts N server
processes. Reports the first calls' latency (p50, p90, max) and failures, per round (each round
uses fresh session ids; the previous round's sessions stay until they idle out).

  --sessions N        new sessions at once (default 100)
  --rounds N          repeat (default 1)
  --server NAME       everything: @modelcontextprotocol/server-everything (Node.js, default)
                      fake: the native fake_mcp_server fixture (starts in ~1 ms)
  --node "K = V"      an extra [node] line for mcpd's config (repeatable), e.g.
                      --node "max_concurrent_starts = 100" to start every process at once
  --json              machine-readable output
)";
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
      return argv[++i];
    };
    if (a == "--sessions") o.sessions = std::stoi(value());
    else if (a == "--rounds") o.rounds = std::stoi(value());
    else if (a == "--server") o.server = value();
    else if (a == "--node") o.node_extra += value() + "\n";
    else if (a == "--json") o.json = true;
    else if (a == "--help" || a == "-h") {
      usage();
      std::exit(0);
    } else {
      throw std::invalid_argument("unknown option " + a + " (see --help)");
    }
  }
  if (o.sessions < 1 || o.sessions > 1000) throw std::invalid_argument("--sessions takes 1..1000");
  if (o.server != "everything" && o.server != "fake") throw std::invalid_argument("--server takes everything or fake");
  return o;
}

double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

int run(const Options& o) {
  spdlog::set_level(spdlog::level::warn);
  test::NatsServer nats;
  bus::Options bo;
  bo.servers = {nats.url()};
  std::string command = o.server == "fake" ? std::string(MCPD_FAKE_SERVER)
                                           : std::string(MCPD_NODE_MODULES) + "/.bin/mcp-server-everything";
  std::ostringstream toml;
  toml << "[node]\nid = \"bench\"\n" << o.node_extra << "[nats]\nurl = \"" << nats.url()
       << "\"\n[log]\nlevel = \"info\"\n[[servers]]\nname = \"target\"\ncommand = \"" << command
       << "\"\nisolation = \"session\"\nmaxIsolatedSessions = " << std::max(o.sessions * o.rounds, 1)
       << "\nmaxQueue = " << std::max(o.sessions * o.rounds, 256) << "\nminSessions = 0\ncallTimeoutMs = 120000\n";
  test::DaemonProcess daemon(toml.str());
  auto control = bus::Connection::connect(bo).value();
  daemon.wait_serving(*control);

  // One connection per caller thread, as N independent agents would have.
  std::vector<std::shared_ptr<bus::Connection>> clients;
  for (int i = 0; i < o.sessions; ++i) clients.push_back(bus::Connection::connect(bo).value());

  Json rounds = Json::array();
  int exit_code = 0;
  for (int round = 1; round <= o.rounds; ++round) {
    std::vector<double> ms(static_cast<std::size_t>(o.sessions), -1);
    std::vector<std::string> errors(static_cast<std::size_t>(o.sessions));
    std::barrier go(o.sessions);
    std::vector<std::thread> threads;
    for (int i = 0; i < o.sessions; ++i) {
      threads.emplace_back([&, i] {
        const Json body = {{"tool", "echo"},
                           {"args", {{"message", "hi"}}},
                           {"session_id", "first-" + std::to_string(round) + "-" + std::to_string(i)},
                           {"timeout_ms", 120000}};
        const std::string payload = body.dump();
        go.arrive_and_wait();
        const auto t0 = Clock::now();
        auto r = clients[static_cast<std::size_t>(i)]->request("mcp.target.execute", payload, 130s);
        const double took = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
        const auto k = static_cast<std::size_t>(i);
        if (!r.ok()) {
          errors[k] = r.error().message;
          return;
        }
        Json reply = Json::parse(r.value().data(), nullptr, false);
        if (!reply.is_object() || reply.contains("error")) {
          errors[k] = reply.is_object() ? reply.value("error", std::string("?")) : std::string("not JSON");
          return;
        }
        ms[k] = took;
      });
    }
    for (auto& t : threads) t.join();
    std::vector<double> ok;
    std::string first_error;
    for (std::size_t k = 0; k < ms.size(); ++k) {
      if (ms[k] >= 0) ok.push_back(ms[k]);
      else if (first_error.empty()) first_error = errors[k];
    }
    const int failed = o.sessions - static_cast<int>(ok.size());
    if (failed > 0) exit_code = 1;
    Json r = {{"round", round}, {"sessions", o.sessions}, {"failed", failed}, {"p50_ms", pct(ok, 0.5)},
              {"p90_ms", pct(ok, 0.9)},  {"max_ms", pct(ok, 1.0)},   {"first_error", first_error}};
    rounds.push_back(r);
    if (!o.json) {
      if (round == 1) std::printf("%-6s %-9s %-7s %10s %10s %10s\n", "round", "sessions", "failed", "p50 ms", "p90 ms", "max ms");
      std::printf("%-6d %-9d %-7d %10.0f %10.0f %10.0f\n", round, o.sessions, failed, pct(ok, 0.5), pct(ok, 0.9),
                  pct(ok, 1.0));
      if (!first_error.empty()) std::printf("       first error: %s\n", first_error.c_str());
    }
  }
  if (o.json) std::cout << Json{{"server", o.server}, {"rounds", rounds}}.dump(2) << "\n";
  return exit_code;
}

}  // namespace
}  // namespace mcpd::bench

int main(int argc, char** argv) {
  try {
    return mcpd::bench::run(mcpd::bench::parse(argc, argv));
  } catch (const std::invalid_argument& e) {
    std::cerr << "mcpd_bench_first_calls: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "mcpd_bench_first_calls: " << e.what() << "\n";
    return 1;
  }
}
