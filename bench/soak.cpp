// mcpd_bench_soak: the soak and chaos scenario of tests/support/soak.hpp for a chosen duration,
// against one node or the 3-node cluster (one nats-server restarted mid-run), printed as one
// table: calls by outcome code and kind, then RSS, open fds, child processes and threads of
// mcpd at start, after the warm-up and at the end. See bench/README.md.
//
// Exit status: 0 when every outcome is one the scenario explains, the nodes came back to their
// start counts of fds and child processes, and nothing outlived them; 1 otherwise; 2 on a
// usage error.

#include "support/soak.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <iostream>
#include <string>

namespace {

constexpr const char* kUsage =
    "usage: mcpd_bench_soak [--duration SECONDS (60)] [--mode node|cluster (node)] [--callers N (8)]\n"
    "                       [--warmup SECONDS (a fifth of the duration)] [--crash-every N (40)] [--json]\n"
    "  A mixed load (shared and isolated sessions, fast and slow tools, a server that crashes every\n"
    "  N calls, one that hangs, one that floods stderr) against real mcpd processes; in cluster mode\n"
    "  one of the three nats-servers is stopped for 3 s mid-run. Prints calls by outcome, and mcpd's\n"
    "  RSS, open fds, child processes and threads at start, after the warm-up and at the end.\n";

int usage_error(const std::string& why) {
  std::cerr << "mcpd_bench_soak: " << why << "\n" << kUsage;
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace mcpd::test;
  soak::Options o;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      return 0;
    }
    if (a == "--json") {
      json = true;
      continue;
    }
    if (i + 1 >= argc) return usage_error(a + " needs a value");
    const std::string v = argv[++i];
    try {
      if (a == "--duration") o.duration = std::chrono::seconds(std::stoi(v));
      else if (a == "--warmup") o.warmup = std::chrono::seconds(std::stoi(v));
      else if (a == "--callers") o.callers = std::stoi(v);
      else if (a == "--crash-every") o.crash_every = std::stoi(v);
      else if (a == "--mode" && v == "node") o.mode = soak::Mode::node;
      else if (a == "--mode" && v == "cluster") o.mode = soak::Mode::cluster;
      else return usage_error("unknown option or value: " + a + " " + v);
    } catch (const std::exception&) {
      return usage_error("not a number: " + a + " " + v);
    }
  }
  if (o.duration.count() < 5 || o.callers < 1 || o.callers > 256 || o.crash_every < 2)
    return usage_error("--duration is at least 5, --callers 1..256, --crash-every at least 2");
  spdlog::set_default_logger(spdlog::stderr_color_mt("mcpd"));  // stdout holds only the report
  spdlog::set_level(spdlog::level::warn);
  o.progress = [](const std::string& line) { std::fprintf(stderr, "mcpd_bench_soak: %s\n", line.c_str()); };
  try {
    const auto report = soak::run(o);
    if (json) std::cout << report.json().dump(2) << "\n";
    else std::cout << report.table();
    const bool clean = report.unexplained().empty() && report.settled && report.survivors == 0;
    if (!clean) std::cerr << "mcpd_bench_soak: the run was not clean; the nodes' last log lines:\n" << report.logs;
    return clean ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "mcpd_bench_soak: " << e.what() << "\n";
    return 1;
  }
}
