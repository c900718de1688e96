// mcpd_bench_scale: what a node costs with many registered servers (bench/README.md, "cost
// table"). For each count N (default 10,100,1000,10000) it starts a real mcpd whose config file
// registers N copies of the native fake server (minSessions 0: nothing runs until called) on a
// nats-server with JetStream, and reports:
//   serve_s      from spawn to the "serving N MCP servers" line;
//   rss_mib      mcpd's resident memory then (every server lazy);
//   list_ms      mcp.admin.servers.list followed page by page to the end (and the count seen);
//   stats_ms     $SRV.STATS.mcpd answered (what `mcpctl nodes` asks);
//   cold_ms      the first call of a server never used (one process start + initialize + call);
//   cap_rss_mib  mcpd's memory after calling `cap + 20` servers once each with
//                [node] max_live_processes = cap (the live processes counted too);
//   join_s       a second node with an empty config, from spawn until it serves all N (it learns
//                the catalog from the cluster's bucket).
#include "bus/connection.hpp"
#include "support/daemon_process.hpp"
#include "support/nats_server.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <dirent.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace mcpd::bench {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr const char* kUsage = R"(usage: mcpd_bench_scale [options]
  --servers LIST   registered server counts, e.g. 10,100,1000,10000 (default)
  --cap N          [node] max_live_processes for the cap measurement (default 100)
  --no-join        skip the second node (join_s)
  --json           machine-readable output
)";

struct Options {
  std::vector<int> counts{10, 100, 1000, 10000};
  int cap = 100;
  bool join = true;
  bool json = false;
};

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

double rss_mib(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return -1;
}

// Processes whose parent is `pid` (the servers' processes mcpd runs).
int children_of(int pid) {
  int n = 0;
  DIR* d = ::opendir("/proc");
  if (!d) return -1;
  while (auto* e = ::readdir(d)) {
    std::ifstream in(std::string("/proc/") + e->d_name + "/stat");
    std::string stat;
    if (!std::getline(in, stat)) continue;
    auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 2));
    std::string state;
    int ppid = 0;
    rest >> state >> ppid;
    if (ppid == pid && state != "Z") ++n;
  }
  ::closedir(d);
  return n;
}

std::string name_of(int i) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "s%05d", i);
  return buf;
}

std::string node_toml(const std::string& id, const std::string& url, int servers, int cap) {
  std::ostringstream t;
  t << "[node]\nid = \"" << id << "\"\nmax_live_processes = " << cap << "\n[nats]\nurl = \"" << url
    << "\"\n[cluster]\njetstream = \"on\"\n[log]\nlevel = \"info\"\n";
  for (int i = 0; i < servers; ++i)
    t << "[[servers]]\nname = \"" << name_of(i) << "\"\ncommand = \"" << MCPD_FAKE_SERVER << "\"\nminSessions = 0\n";
  return t.str();
}

bool wait_log(const test::DaemonProcess& d, const std::string& needle, std::chrono::seconds timeout) {
  return test::wait_until([&] { return d.log().find(needle) != std::string::npos; }, timeout, 10ms);
}

struct Row {
  int servers = 0;
  double serve_s = -1, rss = -1, list_ms = -1, stats_ms = -1, cold_ms = -1, cap_rss = -1, join_s = -1;
  int listed = 0, cap_children = -1;
  std::string problem;
};

Row measure(const Options& o, int n) {
  Row row;
  row.servers = n;
  test::NatsServerOptions no;
  no.jetstream = true;
  test::NatsServer nats(no);
  bus::Options bo;
  bo.servers = {nats.url()};
  bo.name = "bench-scale";
  auto client = bus::Connection::connect(bo).value();

  const auto spawned = Clock::now();
  test::DaemonProcess node(node_toml("scale-a", nats.url(), n, o.cap));
  if (!wait_log(node, " MCP servers on ", 120s)) throw std::runtime_error("mcpd did not serve; its log:\n" + node.log());
  row.serve_s = ms_since(spawned) / 1000;
  row.rss = rss_mib(node.pid());

  // The whole catalog, page by page, as mcpctl server ls follows it.
  auto t = Clock::now();
  std::string cursor;
  for (int pages = 0; pages < 100000; ++pages) {
    Json req = cursor.empty() ? Json::object() : Json{{"cursor", cursor}};
    auto r = client->request("mcp.admin.servers.list", req.dump(), 30s);
    if (!r.ok()) {
      row.problem = "admin list: " + r.error().message;
      break;
    }
    Json page = Json::parse(r.value().data());
    row.listed += static_cast<int>(page.value("servers", Json::array()).size());
    cursor = page.value("next_cursor", "");
    if (cursor.empty()) break;
  }
  row.list_ms = ms_since(t);

  t = Clock::now();
  if (client->request("$SRV.STATS.mcpd", "", 10s).ok()) row.stats_ms = ms_since(t);

  const Json call = {{"tool", "echo"}, {"args", {{"message", "hi"}}}};
  t = Clock::now();
  auto first = client->request("mcp." + name_of(n / 2) + ".execute", call.dump(), 30s);
  if (first.ok() && Json::parse(first.value().data()).contains("result")) row.cold_ms = ms_since(t);

  // Past the live cap: every server called once; the node keeps at most `cap` processes.
  const int used = std::min(n, o.cap + 20);
  for (int i = 0; i < used; ++i) {
    auto r = client->request("mcp." + name_of(i) + ".execute", call.dump(), 30s);
    if (!r.ok() || !Json::parse(r.value().data()).contains("result")) {
      row.problem = "call " + name_of(i) + " failed: " + (r.ok() ? std::string(r.value().data()) : r.error().message);
      break;
    }
  }
  row.cap_rss = rss_mib(node.pid());
  row.cap_children = children_of(node.pid());

  if (o.join) {
    // A new node with nothing of its own: it serves once it has the cluster's catalog.
    wait_log(node, "catalog synchronised with bucket mcp-catalog", 60s);
    const auto joined = Clock::now();
    test::DaemonProcess second("[node]\nid = \"scale-b\"\n[nats]\nurl = \"" + nats.url() +
                               "\"\n[cluster]\njetstream = \"on\"\n[log]\nlevel = \"info\"\n");
    bool all = test::wait_until(
        [&] {
          auto r = client->request("$SRV.STATS.mcpd.scale-b", "", 1s);
          if (!r.ok()) return false;
          Json s = Json::parse(r.value().data(), nullptr, false);
          return s.is_object() && s.contains("data") && s["data"].value("server_count", 0) >= n;
        },
        120s, 20ms);
    if (all) row.join_s = ms_since(joined) / 1000;
    second.signal(SIGTERM);
    second.wait_exit(30s);
  }
  node.signal(SIGTERM);
  node.wait_exit(60s);
  return row;
}

}  // namespace
}  // namespace mcpd::bench

int main(int argc, char** argv) {
  using namespace mcpd::bench;
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    try {
      if (a == "--servers" && i + 1 < argc) {
        o.counts.clear();
        std::stringstream ss(argv[++i]);
        for (std::string item; std::getline(ss, item, ',');) o.counts.push_back(std::stoi(item));
      } else if (a == "--cap" && i + 1 < argc) {
        o.cap = std::stoi(argv[++i]);
      } else if (a == "--no-join") {
        o.join = false;
      } else if (a == "--json") {
        o.json = true;
      } else if (a == "--help" || a == "-h") {
        std::cout << kUsage;
        return 0;
      } else {
        throw std::invalid_argument("unknown option " + a);
      }
    } catch (const std::exception& e) {
      std::cerr << "mcpd_bench_scale: " << e.what() << "\n" << kUsage;
      return 2;
    }
  }
  spdlog::set_level(spdlog::level::warn);
  Json rows = Json::array();
  if (!o.json)
    std::printf("%8s %8s %8s %8s %7s %8s %8s %11s %9s %7s\n", "servers", "serve_s", "rss_mib", "list_ms", "listed",
                "stats_ms", "cold_ms", "cap_rss_mib", "cap_procs", "join_s");
  int status = 0;
  for (int n : o.counts) {
    try {
      Row r = measure(o, n);
      if (o.json) {
        rows.push_back({{"servers", n}, {"serve_s", r.serve_s}, {"rss_mib", r.rss}, {"list_ms", r.list_ms},
                        {"listed", r.listed}, {"stats_ms", r.stats_ms}, {"cold_ms", r.cold_ms}, {"cap_rss_mib", r.cap_rss},
                        {"cap_processes", r.cap_children}, {"join_s", r.join_s}, {"problem", r.problem}});
      } else {
        std::printf("%8d %8.2f %8.1f %8.1f %7d %8.1f %8.1f %11.1f %9d %7.2f\n", n, r.serve_s, r.rss, r.list_ms, r.listed,
                    r.stats_ms, r.cold_ms, r.cap_rss, r.cap_children, r.join_s);
        if (!r.problem.empty()) std::printf("  problem: %s\n", r.problem.c_str());
      }
      if (!r.problem.empty() || r.listed != n) status = 1;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "mcpd_bench_scale: %d servers: %s\n", n, e.what());
      status = 1;
    }
  }
  if (o.json) std::cout << rows.dump(2) << "\n";
  return status;
}
