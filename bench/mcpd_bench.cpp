// mcpd_bench_node: a call through mcpd (NATS client → mcpd → MCP server over stdio) beside
// its two floors, measured in one run against the same server:
//   nats   raw NATS request–reply to an echo responder in another process (no MCP at all);
//   nats-loop  (--nats-event-loop) the same to a responder driving nats.c from its own epoll
//          loop (event_loop_responder.cpp);
//   stdio  the server driven directly over pipes, pipelined by id (raw_pipe.cpp);
//   mcpd   NATS requests to mcp.<server>.execute served by a real mcpd child process;
//   sgw    (--supergateway) the same server behind supergateway, stateful Streamable HTTP.
// `c` callers run closed loops (one call in flight each). Every reply is checked against its
// request. See bench/README.md.

#include "event_loop_responder.hpp"
#include "raw_pipe.hpp"
#include "supergateway.hpp"
#include "workload.hpp"

#include "bus/connection.hpp"
#include "support/daemon_process.hpp"
#include "support/nats_server.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <spawn.h>
#include <sys/wait.h>
#include <iostream>
#include <sstream>
#include <thread>

namespace mcpd::bench {
namespace {

using namespace std::chrono_literals;

struct Options {
  std::string server = "fake";             // fake | everything | everything-http
  std::size_t payload = 100;
  std::vector<int> concurrency{1, 16, 64, 256};
  double seconds = 4;                      // per measurement
  std::size_t calls = 20000;               // per measurement, at most
  bool json = false;
  unsigned loop_threads = 1;               // mcpd's [node] loop_threads
  bool supergateway = false;               // also measure the server behind supergateway
  bool nats_event_loop = false;            // also measure the event-loop responder (nats-loop)
};

constexpr const char* kUsage = R"(usage: mcpd_bench_node [options]
  --server fake|everything|everything-http
                             the MCP server behind mcpd (default fake: the native fixture);
                             everything-http: server-everything over Streamable HTTP behind mcpd
                             (the stdio row still drives it over stdio: the floor)
  --payload BYTES            echoed payload size (default 100)
  --concurrency LIST         callers in flight, e.g. 1,16,64,256 (default)
  --seconds S                time bound per measurement (default 4)
  --calls N                  call bound per measurement (default 20000)
  --loop-threads N           mcpd's event-loop threads (default 1)
  --supergateway             also measure the server behind supergateway (stdio to stateful
                             Streamable HTTP, one MCP session from this process) and print
                             mcpd's calls/s against it at concurrency 32 (goal >= 15x)
  --nats-event-loop          also measure raw NATS to a second echo responder that drives
                             nats.c's socket from its own epoll loop and drains a synchronous
                             subscription there (row nats-loop, after nats)
  --json                     machine-readable output: one JSON document, {"results": [...], "goals": [...]}
)";

std::vector<std::string> server_argv(const Options& o) {
  if (o.server.rfind("everything", 0) == 0) return {std::string(MCPD_NODE_MODULES) + "/.bin/mcp-server-everything"};
  return {std::string(MCPD_FAKE_SERVER)};
}

// Runs `c` closed-loop callers of `one_call(seq)` until `calls` or the deadline.
template <typename Call>
Measurement closed_loop(const std::string& mode, int c, const Options& o, Call one_call) {
  Recorder rec(o.calls);
  std::mutex mu;
  std::atomic<std::uint64_t> next{0};
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.seconds));
  const auto start = Clock::now();
  std::vector<std::thread> callers;
  for (int i = 0; i < c; ++i) {
    callers.emplace_back([&] {
      for (;;) {
        auto seq = next.fetch_add(1);
        if (seq >= o.calls || Clock::now() >= deadline) return;
        auto t0 = Clock::now();
        std::string err = one_call(seq);
        auto dt = Clock::now() - t0;
        std::lock_guard lock(mu);
        if (err.empty()) rec.ok(dt); else rec.error(dt, std::move(err));
      }
    });
  }
  for (auto& t : callers) t.join();
  return rec.finish(mode, c, Clock::now() - start);
}

std::string expect_suffix(std::string_view got, const std::string& want) {
  if (got.size() >= want.size() && got.substr(got.size() - want.size()) == want) return {};
  return "reply does not end with the payload: " + std::string(got.substr(0, 80));
}

Json rows_json(const std::vector<Measurement>& ms) {
  Json out = Json::array();
  for (const auto& m : ms)
    out.push_back({{"mode", m.mode}, {"concurrency", m.concurrency}, {"calls", m.completed}, {"errors", m.errors},
                   {"calls_per_s", m.calls_per_s}, {"p50_us", m.p50_us}, {"p99_us", m.p99_us}});
  return out;
}

// The table of `ms` (text only: with --json, print_ratios prints every row once, at the end).
void print(const Options& o, const std::vector<Measurement>& ms) {
  if (o.json) return;
  int width = 6;
  for (const auto& m : ms) width = std::max(width, static_cast<int>(m.mode.size()));
  std::printf("server %s, payload %zu B\n%-*s %5s %9s %11s %9s %9s %7s\n", o.server.c_str(), o.payload, width, "mode",
              "conc", "calls", "calls/s", "p50 us", "p99 us", "errors");
  for (const auto& m : ms)
    std::printf("%-*s %5d %9zu %11.0f %9.1f %9.1f %7zu\n", width, m.mode.c_str(), m.concurrency, m.completed,
                m.calls_per_s, m.p50_us, m.p99_us, m.errors);
}

// The goals of the node benchmark (bench/README.md), checked against this run's own floors:
// sequential p50 through mcpd against raw NATS + direct stdio, and calls/s at concurrency 64
// against raw NATS. Prints one line per goal with the ratio and whether it is met; with --json,
// one document: {"results": [every row], "goals": [...]}.
void print_ratios(const Options& o, const std::vector<Measurement>& ms) {
  auto find = [&](const std::string& mode, int c) -> const Measurement* {
    for (const auto& m : ms)
      if (m.mode == mode && m.concurrency == c) return &m;
    return nullptr;
  };
  const double p50_goal = o.server == "fake" ? 1.2 : 1.3;
  Json goals = Json::array();
  if (auto *n = find("nats", 1), *d = find("stdio", 1), *m = find("mcpd", 1); n && d && m) {
    const double ratio = m->p50_us / (n->p50_us + d->p50_us);
    goals.push_back({{"goal", "sequential p50 / (nats + stdio)"}, {"ratio", ratio}, {"target_max", p50_goal}, {"met", ratio <= p50_goal}});
  }
  if (auto *n = find("nats", 64), *m = find("mcpd", 64); n && m) {
    const double ratio = m->calls_per_s / n->calls_per_s;
    goals.push_back({{"goal", "calls/s at 64 / raw nats"}, {"ratio", ratio}, {"target_min", 0.8}, {"met", ratio >= 0.8}});
  }
  if (auto *g = find("sgw", 32), *m = find("mcpd", 32); g && m && g->calls_per_s > 0) {
    const double ratio = m->calls_per_s / g->calls_per_s;
    goals.push_back({{"goal", "calls/s at 32 / supergateway"}, {"ratio", ratio}, {"target_min", 15.0}, {"met", ratio >= 15.0}});
  }
  if (o.json) {
    std::cout << Json{{"results", rows_json(ms)}, {"goals", goals}}.dump(2) << "\n";
    return;
  }
  for (const auto& g : goals)
    std::printf("%-36s %6.2f  (goal %s %.2f) %s\n", g["goal"].get<std::string>().c_str(), g["ratio"].get<double>(),
                g.contains("target_max") ? "<=" : ">=",
                g.contains("target_max") ? g["target_max"].get<double>() : g["target_min"].get<double>(),
                g["met"].get<bool>() ? "met" : "NOT met");
}

std::string g_self;  // argv[0], to start the responder

// `--responder <url>`, or `--responder-event-loop <url> <subject>`.
pid_t spawn_responder(std::vector<std::string> args) {
  std::vector<char*> argv{g_self.data()};
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  if (::posix_spawn(&pid, g_self.c_str(), nullptr, nullptr, argv.data(), environ) != 0) throw std::runtime_error("cannot spawn the responder");
  return pid;
}

bool wait_for_responder(bus::Connection& client, const std::string& subject) {
  return test::wait_until([&] { return client.request(subject, "ping", 200ms).ok(); }, 10s);
}

// The responder process: echo every request on bench.echo until killed.
int respond_forever(const std::string& url) {
  spdlog::set_level(spdlog::level::warn);
  bus::Options bo;
  bo.servers = {url};
  auto conn = bus::Connection::connect(bo).value();
  auto echo = [c = conn.get()](bus::Message m) {
    (void)c->respond(m.reply(), m.data());  // a lost echo shows as a timeout
  };
  auto sub = conn->subscribe("bench.echo", "", echo).value();
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  int sig = 0;
  sigwait(&set, &sig);
  return 0;
}

int run(const Options& o) {
  spdlog::set_level(spdlog::level::warn);
  test::NatsServer nats;
  bus::Options bo;
  bo.servers = {nats.url()};
  auto client = bus::Connection::connect(bo).value();
  // The echo responder runs in a process of its own, as mcpd does: a same-process responder
  // would skip a cross-process wake-up and flatter the floor.
  // Stopped however this run ends (an exception included): it must not outlive the bench.
  struct Responder {
    pid_t pid;  // -1: not started
    ~Responder() {
      if (pid <= 0) return;
      ::kill(pid, SIGTERM);
      ::waitpid(pid, nullptr, 0);
    }
  } responder{spawn_responder({"--responder", nats.url()})};
  if (!wait_for_responder(*client, "bench.echo")) throw std::runtime_error("the echo responder did not start");
  const std::string loop_subject = "bench.echo-loop";
  Responder loop_responder{o.nats_event_loop ? spawn_responder({"--responder-event-loop", nats.url(), loop_subject}) : -1};
  if (o.nats_event_loop && !wait_for_responder(*client, loop_subject))
    throw std::runtime_error("the event-loop echo responder did not start");

  std::string fake = MCPD_FAKE_SERVER;
  auto argv = server_argv(o);
  std::ostringstream toml;
  toml << "[node]\nid = \"bench\"\nloop_threads = " << o.loop_threads << "\n[nats]\nurl = \"" << nats.url() << "\"\n[log]\nlevel = \"info\"\n"
       << "[[servers]]\nname = \"target\"\n";
  pid_t http_server = -1;
  if (o.server == "everything-http") {
    // server-everything in its Streamable HTTP mode on a free loopback port (PORT in its env).
    const int port = test::free_loopback_port();
    std::string env_port = "PORT=" + std::to_string(port), mode = "streamableHttp";
    std::vector<char*> envp;
    for (char** e = environ; *e; ++e) envp.push_back(*e);
    envp.push_back(env_port.data());
    envp.push_back(nullptr);
    char* args[] = {argv[0].data(), mode.data(), nullptr};
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);
    if (::posix_spawn(&http_server, argv[0].c_str(), nullptr, &attr, args, envp.data()) != 0)
      throw std::runtime_error("cannot start server-everything over HTTP");
    posix_spawnattr_destroy(&attr);
    if (!test::wait_until([&] { return test::loopback_port_accepts(port); }, 20s)) throw std::runtime_error("server-everything did not listen");
    toml << "transport = \"http\"\nurl = \"http://127.0.0.1:" << port << "/mcp\"\n";
  } else {
    toml << "command = \"" << argv[0] << "\"\n";
  }
  toml << "minSessions = 1\nmaxSessions = 1\nmaxInflightPerSession = 1024\nmaxQueue = 4096\n";
  test::DaemonProcess daemon(toml.str());
  daemon.wait_serving(*client);

  Workload w("echo", Json{{"message", std::string(kPayloadMarker)}}, o.payload);
  std::unique_ptr<Supergateway> sgw;
  if (o.supergateway) sgw = std::make_unique<Supergateway>(std::string(MCPD_NODE_MODULES) + "/.bin/supergateway", argv[0]);
  std::vector<Measurement> results;
  auto nats_echo = [&](const std::string& subject) {
    return [&, subject](std::uint64_t seq) -> std::string {
      std::string p = w.payload(seq);
      auto r = client->request(subject, p, 10s);
      if (!r.ok()) return r.error().message;
      return r.value().data() == p ? std::string() : "echo mismatch";
    };
  };
  for (int c : o.concurrency) {
    // nats: the floor of the bus alone.
    results.push_back(closed_loop("nats", c, o, nats_echo("bench.echo")));
    // nats-loop: the same, answered without a reader-to-delivery thread hand-off.
    if (o.nats_event_loop) results.push_back(closed_loop("nats-loop", c, o, nats_echo(loop_subject)));
    // stdio: the floor of the MCP server alone.
    {
      RawPipeClient raw(argv);
      raw.handshake(10s);
      RunSpec spec{c, o.calls, Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.seconds))};
      auto m = raw.run(w, spec);
      m.mode = "stdio";
      results.push_back(m);
    }
    // mcpd: both, plus our work in between.
    results.push_back(closed_loop("mcpd", c, o, [&](std::uint64_t seq) -> std::string {
      std::string p = w.payload(seq);
      Json body = {{"tool", "echo"}, {"args", {{"message", p}}}};
      auto r = client->request("mcp.target.execute", body.dump(), 30s);
      if (!r.ok()) return r.error().message;
      Json reply = Json::parse(r.value().data(), nullptr, false);
      if (!reply.is_object() || !reply.contains("result") || !reply["result"].is_string())
        return "bad reply: " + std::string(r.value().data().substr(0, 120));
      return expect_suffix(reply["result"].get_ref<const std::string&>(), p);
    }));
    std::size_t rows = o.nats_event_loop ? 4 : 3;
    if (sgw) {
      // sgw: the same server behind supergateway, the same closed loop of callers.
      results.push_back(closed_loop("sgw", c, o, [&](std::uint64_t seq) -> std::string {
        std::string p = w.payload(seq);
        auto r = sgw->call("echo", Json{{"message", p}});
        if (!r.ok()) return r.error().message;
        const Json& content = r.value().value("content", Json::array());
        if (!content.is_array() || content.empty() || !content[0].value("text", Json()).is_string())
          return "bad reply: " + r.value().dump().substr(0, 120);
        return expect_suffix(content[0]["text"].get_ref<const std::string&>(), p);
      }));
      ++rows;
    }
    print(o, {results.end() - static_cast<std::ptrdiff_t>(rows), results.end()});
  }
  if (!o.json) std::printf("\n");
  print(o, results);
  if (!o.json) std::printf("\n");
  print_ratios(o, results);
  daemon.signal(SIGTERM);
  daemon.wait_exit();
  if (http_server > 0) {
    ::kill(-http_server, SIGTERM);
    ::waitpid(http_server, nullptr, 0);
  }
  return 0;
}

std::vector<int> parse_list(const std::string& s) {
  std::vector<int> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) out.push_back(std::stoi(item));
  return out;
}

}  // namespace
}  // namespace mcpd::bench

int main(int argc, char** argv) {
  mcpd::bench::g_self = argv[0];
  if (argc == 3 && std::string(argv[1]) == "--responder") return mcpd::bench::respond_forever(argv[2]);
  if (argc == 4 && std::string(argv[1]) == "--responder-event-loop") return mcpd::bench::run_event_loop_responder(argv[2], argv[3]);
  mcpd::bench::Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
      return argv[++i];
    };
    try {
      if (a == "--server") o.server = value();
      else if (a == "--payload") o.payload = std::stoul(value());
      else if (a == "--concurrency") o.concurrency = mcpd::bench::parse_list(value());
      else if (a == "--seconds") o.seconds = std::stod(value());
      else if (a == "--calls") o.calls = std::stoul(value());
      else if (a == "--json") o.json = true;
      else if (a == "--loop-threads") o.loop_threads = static_cast<unsigned>(std::stoul(value()));
      else if (a == "--supergateway") o.supergateway = true;
      else if (a == "--nats-event-loop") o.nats_event_loop = true;
      else if (a == "--help" || a == "-h") { std::cout << mcpd::bench::kUsage; return 0; }
      else throw std::invalid_argument("unknown option " + a);
    } catch (const std::exception& e) {
      std::cerr << "mcpd_bench_node: " << e.what() << "\n" << mcpd::bench::kUsage;
      return 2;
    }
  }
  if (o.supergateway && o.server != "everything") {
    std::cerr << "mcpd_bench_node: --supergateway compares server-everything over stdio: use it with --server everything\n";
    return 2;
  }
  try {
    return mcpd::bench::run(o);
  } catch (const std::exception& e) {
    std::cerr << "mcpd_bench_node: " << e.what() << "\n";
    return 1;
  }
}
