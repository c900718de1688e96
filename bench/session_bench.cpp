// mcpd_bench_session: what one ClientSession over a StdioTransport costs on top of the pipe.
//
// For each concurrency level it measures, against freshly spawned copies of the same server:
//   raw      the floor: our own fork/exec and pipes, requests pipelined by id (raw_pipe.cpp);
//   session  mcp::ClientSession over make_stdio_transport, `c` logical callers in a closed
//            loop (each issues its next call from the previous call's completion callback).
// Every reply is checked against its request (the echoed payload is unique per call).
// See bench/README.md for how to run it and what the numbers mean.

#include "raw_pipe.hpp"
#include "session_open.hpp"
#include "workload.hpp"

#include "io/loop.hpp"
#include "mcp/client_session.hpp"
#include "transport/stdio_transport.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <future>
#include <iostream>
#include <mutex>
#include <sstream>
#include <sys/resource.h>
#include <thread>

#ifndef MCPD_FAKE_SERVER
#define MCPD_FAKE_SERVER ""
#endif

namespace mcpd::bench {
namespace {

using namespace std::chrono_literals;

struct Options {
  std::vector<std::string> server_argv{std::string(MCPD_FAKE_SERVER)};
  std::string tool = "echo";
  std::string args = R"({"message":"{payload}"})";
  std::size_t payload = 100;
  std::vector<int> concurrency{1, 16, 128};
  std::size_t calls = 0;  // 0: 5000 below concurrency 16, else 20000
  std::size_t warmup = 200;
  double seconds = 6;     // per measurement (the warm-up gets at most kWarmupBound more)
  unsigned loop_threads = 1;
  bool raw = true, session = true, json = false;
};

constexpr const char* kUsage = R"(usage: mcpd_bench_session [options]
  --server PATH          server binary (default: the fake_mcp_server fixture)
  --server-cmd "CMD..."  a whole command line instead, split on spaces (quotes allowed), e.g.
                         --server-cmd "node tests/node_modules/.bin/mcp-server-everything"
  --tool NAME            tool to call (default echo)
  --args JSON            its arguments; "{payload}" in a string is replaced by a per-call unique
                         payload that the reply must end with (default {"message":"{payload}"})
  --payload BYTES        payload size (default 100)
  --concurrency LIST     calls in flight, comma list (default 1,16,128)
  --calls N              measured calls per run (default 5000 below concurrency 16, else 20000)
  --warmup N             unmeasured calls first (default 200)
  --seconds S            time bound per run; whichever of --calls/--seconds ends first (default 6)
  --loop-threads N       threads running the session's event loop (default 1)
  --only raw|session     run one mode only
  --json                 machine-readable output on stdout
)";

// --- command line -----------------------------------------------------------------------------

// Splits a command line on blanks, honouring '...' and "..." (no escapes, no expansion).
std::vector<std::string> split_command(const std::string& cmd) {
  std::vector<std::string> out;
  std::string cur;
  bool in_word = false;
  char quote = 0;
  for (char ch : cmd) {
    if (quote) {
      if (ch == quote) quote = 0;
      else cur += ch;
    } else if (ch == '\'' || ch == '"') {
      quote = ch;
      in_word = true;
    } else if (ch == ' ' || ch == '\t') {
      if (in_word) out.push_back(std::exchange(cur, {}));
      in_word = false;
    } else {
      cur += ch;
      in_word = true;
    }
  }
  if (in_word) out.push_back(cur);
  return out;
}

std::vector<int> parse_levels(const std::string& list) {
  std::vector<int> levels;
  std::stringstream in(list);
  for (std::string item; std::getline(in, item, ',');) {
    int c = std::stoi(item);
    if (c < 1) throw std::invalid_argument("concurrency must be >= 1");
    levels.push_back(c);
  }
  return levels;
}

Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
      return argv[++i];
    };
    if (a == "--server") o.server_argv = {value()};
    else if (a == "--server-cmd") o.server_argv = split_command(value());
    else if (a == "--tool") o.tool = value();
    else if (a == "--args") o.args = value();
    else if (a == "--payload") o.payload = std::stoul(value());
    else if (a == "--concurrency") o.concurrency = parse_levels(value());
    else if (a == "--calls") o.calls = std::stoul(value());
    else if (a == "--warmup") o.warmup = std::stoul(value());
    else if (a == "--seconds") o.seconds = std::stod(value());
    else if (a == "--loop-threads") o.loop_threads = static_cast<unsigned>(std::stoul(value()));
    else if (a == "--only") {
      auto m = value();
      if (m != "raw" && m != "session") throw std::invalid_argument("--only takes raw or session");
      o.raw = m == "raw";
      o.session = m == "session";
    }
    else if (a == "--json") o.json = true;
    else if (a == "--help" || a == "-h") { std::cout << kUsage; std::exit(0); }
    else throw std::invalid_argument("unknown option " + a + " (see --help)");
  }
  if (o.server_argv.empty() || o.server_argv[0].empty())
    throw std::invalid_argument("no server: pass --server or --server-cmd (fake_mcp_server was not built)");
  return o;
}

std::string joined(const std::vector<std::string>& argv) {
  std::string s;
  for (const auto& a : argv) s += (s.empty() ? "" : " ") + a;
  return s;
}

// --- through ClientSession ---------------------------------------------------------------------

// One ClientSession over a stdio transport, opened on construction and closed on destruction.
class SessionHarness {
 public:
  SessionHarness(const std::vector<std::string>& argv, unsigned loop_threads) : loop_(loop_threads) {
    transport::StdioOptions t;
    t.name = "bench";
    t.command = argv[0];
    t.args.assign(argv.begin() + 1, argv.end());
    t.inherit_env = true;  // interpreters (node, python) need more than the safe few
    mcp::SessionOptions s;
    s.name = "bench";
    s.request_timeout = 10s;  // a hung server shows up as timeouts, not as a hung benchmark
    session_ = mcp::ClientSession::create(transport::make_stdio_transport(loop_.make_strand(), t), s);
    open_or_throw(*session_, "session");
  }

  ~SessionHarness() {
    close_within_10s(*session_, "session");
    session_.reset();
    loop_.stop();
  }

  mcp::ClientSession& session() { return *session_; }

 private:
  io::Loop loop_;
  std::shared_ptr<mcp::ClientSession> session_;
};

// A closed loop of `concurrency` callers: each completion issues that caller's next call, so
// exactly `concurrency` calls are in flight until the run's calls or time are used up.
class SessionRun : public std::enable_shared_from_this<SessionRun> {
 public:
  SessionRun(mcp::ClientSession& session, const Workload& workload, RunSpec spec, std::uint64_t first_seq)
      : session_(session), workload_(workload), spec_(spec), first_seq_(first_seq), rec_(spec.calls) {}

  Measurement run() {
    auto finished = done_.get_future();
    start_ = Clock::now();
    for (int i = 0; i < spec_.concurrency; ++i) issue();
    // Every call carries a 10 s deadline, so a healthy library always gets here.
    if (finished.wait_until(spec_.deadline + 30s) != std::future_status::ready)
      throw std::runtime_error("session: callers never finished (lost completion callbacks?)");
    std::lock_guard lock(mu_);
    return rec_.finish("session", spec_.concurrency, end_ - start_);
  }

 private:
  void issue() {
    const std::size_t n = issued_.fetch_add(1);
    if (n >= spec_.calls || Clock::now() >= spec_.deadline) return caller_finished();
    const std::uint64_t seq = first_seq_ + n;
    const auto t0 = Clock::now();
    session_.call_tool(workload_.tool(), workload_.arguments(seq), {},
                       [self = shared_from_this(), seq, t0](Result<Json> r) {
                         self->complete(seq, Clock::now() - t0, r);
                         self->issue();
                       });
  }

  // Runs on the transport's strand, so the lock is uncontended; it keeps rec_ safe whatever
  // thread the library chooses to complete on.
  void complete(std::uint64_t seq, Clock::duration latency, const Result<Json>& r) {
    std::lock_guard lock(mu_);
    if (!r.ok()) {
      rec_.error(latency, "session: " + std::string(to_string(r.error().code)) + ": " + r.error().message);
      return;
    }
    switch (workload_.check(r.value(), seq)) {
      case Verdict::ok: rec_.ok(latency); break;
      case Verdict::error: rec_.error(latency, "session: isError: " + r.value().dump().substr(0, 200)); break;
      case Verdict::mismatch:
        rec_.mismatch(latency, "session: reply does not carry its payload: " + r.value().dump().substr(0, 200));
        break;
    }
  }

  void caller_finished() {
    if (finished_.fetch_add(1) + 1 != spec_.concurrency) return;
    {
      std::lock_guard lock(mu_);
      end_ = Clock::now();
    }
    done_.set_value();
  }

  mcp::ClientSession& session_;
  const Workload& workload_;
  const RunSpec spec_;
  const std::uint64_t first_seq_;
  std::atomic<std::size_t> issued_{0};
  std::atomic<int> finished_{0};
  std::promise<void> done_;
  std::mutex mu_;  // guards rec_ and end_
  Recorder rec_;
  Clock::time_point start_, end_;
};

// --- one level ----------------------------------------------------------------------------------

std::size_t calls_for(const Options& o, int concurrency) {
  if (o.calls > 0) return o.calls;
  return concurrency < 16 ? 5000 : 20000;
}

// With the default --seconds, six measurements and their warm-ups stay under a minute even
// against a slow server.
constexpr auto kWarmupBound = std::chrono::seconds(2);

RunSpec spec_for(const Options& o, int concurrency, std::size_t calls) {
  auto bound = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.seconds));
  return RunSpec{concurrency, calls, Clock::now() + bound};
}

RunSpec warmup_spec(const Options& o, int concurrency) {
  RunSpec spec = spec_for(o, concurrency, o.warmup);
  spec.deadline = std::min(spec.deadline, Clock::now() + kWarmupBound);
  return spec;
}

// CPU time this process used so far. When the server is the bottleneck, latency and calls/s
// look the same either way; the client's CPU per call still shows what the client costs.
double cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  auto secs = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return secs(u.ru_utime) + secs(u.ru_stime);
}

template <typename Run>
Measurement with_cpu(Run&& run) {
  const double before = cpu_seconds();
  Measurement m = run();
  if (m.completed > 0) m.cpu_us_per_call = (cpu_seconds() - before) * 1e6 / static_cast<double>(m.completed);
  return m;
}

Measurement measure_raw(const Options& o, const Workload& w, int c) {
  RawPipeClient client(o.server_argv);
  client.handshake(30s);
  client.run(w, warmup_spec(o, c));
  return with_cpu([&] { return client.run(w, spec_for(o, c, calls_for(o, c))); });
}

Measurement measure_session(const Options& o, const Workload& w, int c) {
  SessionHarness h(o.server_argv, o.loop_threads);
  // Warm-up payloads are numbered after the measured ones: no payload is ever reused.
  std::make_shared<SessionRun>(h.session(), w, warmup_spec(o, c), std::uint64_t{1} << 40)->run();
  auto measured = std::make_shared<SessionRun>(h.session(), w, spec_for(o, c, calls_for(o, c)), 0);
  return with_cpu([&] { return measured->run(); });
}

// --- output -------------------------------------------------------------------------------------

void print_table(const Options& o, const std::vector<Measurement>& ms) {
  std::printf("server: %s\ntool: %s  payload: %zu B  loop threads: %u  cpus: %u\n\n", joined(o.server_argv).c_str(),
              o.tool.c_str(), o.payload, o.loop_threads, std::thread::hardware_concurrency());
  std::printf("%-8s %5s %8s %10s %9s %9s %9s %9s %7s %10s\n", "mode", "conc", "calls", "calls/s", "p50 us",
              "p99 us", "max us", "cpu us", "errors", "mismatches");
  for (const auto& m : ms)
    std::printf("%-8s %5d %8zu %10.0f %9.1f %9.1f %9.1f %9.1f %7zu %10zu\n", m.mode.c_str(), m.concurrency,
                m.completed, m.calls_per_s, m.p50_us, m.p99_us, m.max_us, m.cpu_us_per_call, m.errors, m.mismatches);
  std::printf("\n");
  for (std::size_t i = 0; i + 1 < ms.size(); ++i) {
    const Measurement &raw = ms[i], &session = ms[i + 1];
    if (raw.mode != "raw" || session.mode != "session" || raw.concurrency != session.concurrency) continue;
    if (raw.errors + session.errors > 0) {
      // Failed calls return early (or never): their timings compare nothing.
      std::printf("overhead at concurrency %d: not comparable, there were errors\n", raw.concurrency);
      continue;
    }
    std::printf("overhead at concurrency %d: p50 %+.1f us, p99 %+.1f us, client cpu %+.1f us/call, "
                "throughput %.0f%% of raw\n",
                raw.concurrency, session.p50_us - raw.p50_us, session.p99_us - raw.p99_us,
                session.cpu_us_per_call - raw.cpu_us_per_call,
                100.0 * session.calls_per_s / std::max(raw.calls_per_s, 1.0));
  }
  for (const auto& m : ms)
    for (const auto& e : m.error_samples) std::printf("%s c=%d: %s\n", m.mode.c_str(), m.concurrency, e.c_str());
}

void print_json(const Options& o, const std::vector<Measurement>& ms) {
  Json out = {{"server", joined(o.server_argv)}, {"tool", o.tool}, {"payload_bytes", o.payload},
              {"loop_threads", o.loop_threads}, {"cpus", std::thread::hardware_concurrency()},
              {"results", Json::array()}};
  for (const auto& m : ms)
    out["results"].push_back({{"mode", m.mode}, {"concurrency", m.concurrency}, {"calls", m.completed},
                              {"seconds", m.seconds}, {"calls_per_s", m.calls_per_s}, {"p50_us", m.p50_us},
                              {"p99_us", m.p99_us}, {"max_us", m.max_us}, {"mean_us", m.mean_us},
                              {"cpu_us_per_call", m.cpu_us_per_call},
                              {"errors", m.errors}, {"mismatches", m.mismatches}, {"error_samples", m.error_samples}});
  std::cout << out.dump(2) << "\n";
}

int run(const Options& o) {
  const Workload w(o.tool, Json::parse(o.args), o.payload);
  std::vector<Measurement> ms;
  for (int c : o.concurrency) {
    if (o.raw) ms.push_back(measure_raw(o, w, c));
    if (o.session) ms.push_back(measure_session(o, w, c));
  }
  if (o.json) print_json(o, ms); else print_table(o, ms);
  for (const auto& m : ms)
    if (m.errors + m.mismatches > 0) return 1;
  return 0;
}

}  // namespace
}  // namespace mcpd::bench

int main(int argc, char** argv) {
  // A server that dies mid-write must show up as errors, not kill the benchmark.
  std::signal(SIGPIPE, SIG_IGN);
  // The library logs (server stderr included) go to stderr, warnings and up only, so stdout
  // holds nothing but the report.
  spdlog::set_default_logger(spdlog::stderr_color_mt("mcpd"));
  spdlog::set_level(spdlog::level::warn);
  try {
    return mcpd::bench::run(mcpd::bench::parse_options(argc, argv));
  } catch (const std::exception& e) {
    std::cerr << "mcpd_bench_session: " << e.what() << "\n";
    return 2;
  }
}
