// The soak and chaos scenario, shared by the benchmark (bench/soak.cpp, mcpd_bench_soak) and
// the short run of the test suite (tests/integration/soak_test.cpp): a mixed load for a set
// duration against real mcpd processes, and what it did to them (support/soak_report.hpp).
//
// Where: one nats-server and one mcpd (Mode::node), or the 3-node TestCluster (Mode::cluster),
// where one nats-server is stopped and started again mid-run. Every node runs five servers, all
// the native fake MCP server (tests/fixtures/fake_mcp_server):
//   shared    isolation "shared", 2 sessions: fast echo (half of them with a session_id, which
//             it ignores) and slow sleep (100-300 ms) calls
//   isolated  isolation "session", ids from a bounded set of which a few are in use at any time
//             while the others idle out (idleTtlSeconds 1): sessions and processes come and go
//   crashy    its process exits on every N'th call (--mode=crash-on-call --crash-after=N) and is
//             restarted by the pool
//   hangs     a tool that does not answer (sleep for an hour) called with a short timeout_ms
//   noisy     floods stderr: 500 lines at start, `noisy_lines` lines per call
// Callers: threads making NATS requests in closed loops, each call's kind drawn by weight. Each
// reply is classified by its `code` (ok: a result, checked against what the call asked for);
// failures of the request itself are rows of their own ("nats:timeout", "nats:not_connected",
// "nats:disconnected", "nats:no_responders"). Calls overlapping the nats-server restart are
// counted apart.
//
// Resources of every mcpd (RSS, fds, descendant processes, threads) are sampled at start (the
// eager sessions up, before any call), after the warm-up, and at the end: once the load stopped,
// polling until every node is back to its start counts of child processes and fds (isolated
// sessions idled out, crashy restarted) or `settle_timeout` passed. After the nodes stop, the
// processes they had at the end must be gone too.
//
// Run it from the test's (or main's) own thread: the nats-servers die with the thread that
// started them. Waits poll with deadlines; the load stops at the end of the duration (in cluster
// mode at least 5 s after the restart window, so that what follows the restart is seen too).
#pragma once

#include "bus/connection.hpp"
#include "support/cluster.hpp"
#include "support/daemon_process.hpp"
#include "support/nats_server.hpp"
#include "support/proc_stats.hpp"
#include "support/soak_report.hpp"
#include "support/test_support.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace mcpd::test::soak {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// How many of every 100 calls are of each kind (in the order of Kind).
inline constexpr std::array<int, kKinds> kWeights = {30, 8, 20, 4, 20, 3, 15};

struct Options {
  Mode mode = Mode::node;
  std::chrono::seconds duration{60};
  std::chrono::milliseconds warmup{0};  // 0: a fifth of the duration
  int callers = 8;
  int crash_every = 40;          // crashy's process exits on its N'th call
  int isolated_ids = 24;         // isolated session ids u0..u<N-1>; 4 neighbours in use at a time
  int hang_timeout_ms = 200;     // timeout_ms of the calls to hangs
  int noisy_lines = 100;         // stderr lines per call to noisy
  std::chrono::seconds nats_down{3};        // cluster: how long the nats-server stays stopped
  std::chrono::seconds settle_timeout{60};  // end: how long to wait for the start counts
  std::function<void(const std::string&)> progress;  // told each phase (the bench logs it)
};

// Every node's [[servers]]: the five servers above, sized so that none says `overloaded`: a
// shared pool has 32 slots per session and a queue of 256 (each caller has one call in flight),
// and there is room for an isolated session per caller beyond the ids in use.
inline std::string servers_toml(const Options& o) {
  const std::string fake = fake_server_path();
  auto server = [&](const std::string& name, const std::string& extra) {
    return "\n[[servers]]\nname = \"" + name + "\"\ncommand = \"" + fake + "\"\ncallTimeoutMs = 10000\n" + extra;
  };
  return server("shared", "isolation = \"shared\"\nminSessions = 2\nmaxSessions = 2\n") +
         server("isolated", "isolation = \"session\"\nminSessions = 1\nmaxSessions = 1\nmaxIsolatedSessions = " +
                                std::to_string(o.callers + 8) + "\nidleTtlSeconds = 1\n") +
         server("crashy", "args = [\"--mode=crash-on-call\", \"--crash-after=" + std::to_string(o.crash_every) +
                              "\"]\nminSessions = 1\nmaxSessions = 1\n") +
         server("hangs", "minSessions = 1\nmaxSessions = 1\n") +
         server("noisy",
                "args = [\"--mode=stderr-chatty\", \"--stderr-lines=500\"]\nminSessions = 1\nmaxSessions = 1\n");
}
// Child processes per node once the eager sessions are up: 2 shared + 1 for each other server
// (+ the cluster harness's own "fake"). Shared pools never grow: minSessions = maxSessions.
inline int baseline_children(Mode m) { return 6 + (m == Mode::cluster ? 1 : 0); }

// ---------------------------------------------------------------------------- where it runs

class Environment {
 public:
  static constexpr int kRestartedNats = 1;  // cluster: the nats-server stopped mid-run (n2)

  explicit Environment(const Options& o) : mode_(o.mode) {
    if (mode_ == Mode::cluster) {
      TestClusterOptions c;
      c.more_servers = servers_toml(o);
      cluster_ = std::make_unique<TestCluster>(c);
      return;
    }
    nats_ = std::make_unique<NatsServer>();
    control_ = connect({nats_->url()}, "soak-control");
    daemon_ = std::make_unique<DaemonProcess>("[node]\nid = \"soak-node\"\n[nats]\nurl = \"" + nats_->url() +
                                              "\"\n[cluster]\njetstream = \"off\"\n[log]\nlevel = \"info\"\n" +
                                              servers_toml(o));
    daemon_->wait_serving(*control_);
  }
  ~Environment() { stop(); }
  Environment(const Environment&) = delete;
  Environment& operator=(const Environment&) = delete;

  // Stops the nodes (SIGTERM, as systemd would) and then NATS.
  void stop() {
    control_.reset();
    if (daemon_) {
      daemon_->signal(SIGTERM);
      if (!daemon_->wait_exit(30s)) daemon_->kill();
      daemon_.reset();
    }
    nats_.reset();
    cluster_.reset();
  }

  int nodes() const { return mode_ == Mode::node ? 1 : TestCluster::kSize; }
  pid_t pid(int i) { return mode_ == Mode::node ? daemon_->pid() : cluster_->node(i).pid(); }
  TestCluster& cluster() { return *cluster_; }

  std::vector<ProcSample> sample() {
    std::vector<ProcSample> out;
    for (int i = 0; i < nodes(); ++i) out.push_back(sample_process(pid(i)));
    return out;
  }

  // Waits until every node runs `children` processes and its counts hold still for one poll.
  std::vector<ProcSample> wait_baseline(int children, std::chrono::seconds timeout) {
    std::vector<ProcSample> last;
    bool steady = wait_until(
        [&] {
          auto now = sample();
          bool same = !last.empty();
          for (std::size_t i = 0; i < now.size(); ++i)
            same = same && now[i].children == children && now[i].children == last[i].children &&
                   now[i].fds == last[i].fds;
          last = std::move(now);
          return same;
        },
        timeout, 200ms);
    if (!steady) {
      std::string counts;
      for (const auto& s : last) counts += " " + std::to_string(s.children);
      throw std::runtime_error("the nodes did not reach " + std::to_string(children) +
                               " child processes each at start (they run" + counts + ")\n" + logs(60));
    }
    return last;
  }

  // The callers' connections: node, up to 4 to its server; cluster, one per nats-server (the
  // callers enter the cluster everywhere, so some are on the server that restarts).
  std::vector<std::shared_ptr<bus::Connection>> connections(int callers) {
    std::vector<std::shared_ptr<bus::Connection>> out;
    if (mode_ == Mode::cluster) {
      for (int i = 0; i < TestCluster::kSize; ++i) out.push_back(cluster_->connect({i}, "soak-" + std::to_string(i)));
    } else {
      for (int i = 0; i < std::min(callers, 4); ++i)
        out.push_back(connect({nats_->url()}, "soak-" + std::to_string(i)));
    }
    return out;
  }

  // One server's figures summed over the nodes' $SRV.STATS (e.g. "restarts").
  std::uint64_t server_counter(const std::string& server, const std::string& field) {
    std::uint64_t n = 0;
    for (int i = 0; i < nodes(); ++i) {
      Json s = mode_ == Mode::cluster ? cluster_->server_stats(i, server) : node_server_stats(server);
      if (s.is_object() && s.contains(field) && s[field].is_number_unsigned()) n += s[field].get<std::uint64_t>();
    }
    return n;
  }

  std::string logs(std::size_t lines) {
    if (mode_ == Mode::cluster) return cluster_->logs(lines);
    return daemon_ ? "--- mcpd:\n" + tail(daemon_->log(), lines) : std::string();
  }

 private:
  static std::shared_ptr<bus::Connection> connect(const std::vector<std::string>& urls, const std::string& name) {
    bus::Options o;
    o.servers = urls;
    o.name = name;
    o.retry_on_failed_connect = false;
    auto c = bus::Connection::connect(o);
    if (!c.ok()) throw std::runtime_error("soak client cannot connect: " + c.error().message);
    return c.value();
  }
  Json node_server_stats(const std::string& server) {
    auto r = control_->request("$SRV.STATS.mcpd.soak-node", "", 2s);
    if (!r.ok()) return nullptr;
    auto j = Json::parse(r.value().data(), nullptr, false);
    if (!j.is_object() || !j.contains("data") || !j["data"].is_object() || !j["data"].contains("servers") ||
        !j["data"]["servers"].is_object())
      return nullptr;
    return j["data"]["servers"].value(server, Json());
  }

  Mode mode_;
  std::unique_ptr<NatsServer> nats_;
  std::shared_ptr<bus::Connection> control_;
  std::unique_ptr<DaemonProcess> daemon_;
  std::unique_ptr<TestCluster> cluster_;
};

// ---------------------------------------------------------------------------- the callers

struct Call {
  std::string subject, body;
  std::string expect;  // the result text of a correct answer
  std::chrono::milliseconds timeout;
};

// Call number `seq` of caller `caller`, of kind `k`, `elapsed` into the run. Every echo carries a
// unique message, so an answer meant for another call is caught.
inline Call make_call(Kind k, const Options& o, int caller, std::uint64_t seq, std::mt19937& rng,
                      Clock::duration elapsed) {
  const std::string tag = "c" + std::to_string(caller) + "-" + std::to_string(seq);
  // The isolated ids in use: a window of 4 that moves on every second, so ids leave it and idle out.
  const auto slot = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(elapsed).count());
  const std::string sid = "u" + std::to_string((slot + rng() % 4) % static_cast<std::uint64_t>(o.isolated_ids));
  const int sleep_ms = 100 + static_cast<int>(rng() % 201);
  Json body;
  std::string server, expect;
  switch (k) {
    case shared_fast:
    case isolated_fast:
    case crashy:
      server = k == shared_fast ? "shared" : k == isolated_fast ? "isolated" : "crashy";
      body = {{"tool", "echo"}, {"args", {{"message", tag}}}};
      if (k == isolated_fast || (k == shared_fast && seq % 2 == 0)) body["session_id"] = sid;
      expect = tag;
      break;
    case shared_slow:
    case isolated_slow:
      server = k == shared_slow ? "shared" : "isolated";
      body = {{"tool", "sleep"}, {"args", {{"ms", sleep_ms}}}};
      if (k == isolated_slow) body["session_id"] = sid;
      expect = "slept " + std::to_string(sleep_ms);
      break;
    case hangs:
      server = "hangs";
      body = {{"tool", "sleep"}, {"args", {{"ms", 3600000}}}, {"timeout_ms", o.hang_timeout_ms}};
      break;
    case noisy:
      server = "noisy";
      body = {{"tool", "stderr"},
              {"args", {{"line", "noisy " + tag + " " + std::string(80, '.')}, {"count", o.noisy_lines}}}};
      expect = "ok";
      break;
    case kKinds:
      break;
  }
  // mcpd answers within the call's deadline (10 s, or timeout_ms): 5 s more is NATS's share.
  const auto deadline = body.contains("timeout_ms") ? std::chrono::milliseconds(o.hang_timeout_ms) : 10000ms;
  return {"mcp." + server + ".execute", body.dump(), expect, deadline + 5s};
}

// The outcome row of one reply (see the header); `message` gets the error, if any.
inline std::string classify(const Result<bus::Message>& r, const std::string& expect, std::string& message) {
  if (!r.ok()) {
    message = r.error().message;
    if (r.error().code == Errc::timeout) return "nats:timeout";
    if (message.find("no responders") != std::string::npos) return "nats:no_responders";
    if (message.find("not connected") != std::string::npos) return "nats:not_connected";
    if (message.find("Disconnected") != std::string::npos) return "nats:disconnected";
    return "nats:" + std::string(to_string(r.error().code));
  }
  const std::string_view data = r.value().data();
  auto j = Json::parse(data, nullptr, false);
  if (!j.is_object()) {
    message = std::string(data.substr(0, 300));
    return "bad_reply";
  }
  if (j.contains("error")) {
    message = j["error"].is_string() ? j["error"].get<std::string>() : j["error"].dump();
    return j.contains("code") && j["code"].is_string() ? j["code"].get<std::string>() : "error_without_code";
  }
  if (!j.contains("result") || !j["result"].is_string() || j["result"].get<std::string>() != expect) {
    message = "expected \"" + expect + "\", got " + std::string(data.substr(0, 300));
    return "wrong_result";
  }
  return "ok";
}

struct Record {
  Kind kind;
  std::string outcome, message;
  Clock::time_point start, end;
};

// One caller: calls in a closed loop until `stop`.
inline void caller_loop(const Options& o, int caller, bus::Connection& conn, Clock::time_point t0,
                        const std::atomic<bool>& stop, std::vector<Record>& out) {
  std::mt19937 rng(static_cast<std::mt19937::result_type>(1000 + caller));
  std::discrete_distribution<int> pick(kWeights.begin(), kWeights.end());
  for (std::uint64_t seq = 0; !stop; ++seq) {
    const Kind k = static_cast<Kind>(pick(rng));
    const auto start = Clock::now();
    Call c = make_call(k, o, caller, seq, rng, start - t0);
    auto r = conn.request(c.subject, c.body, c.timeout);
    Record rec{k, {}, {}, start, Clock::now()};
    rec.outcome = classify(r, c.expect, rec.message);
    // This caller's server is down: wait for the reconnection (bounded) instead of spinning.
    if (rec.outcome == "nats:not_connected")
      wait_until([&] { return conn.connected() || stop; }, 250ms, 10ms);
    out.push_back(std::move(rec));
  }
}

// Joins the callers however run() leaves, telling them to stop first.
struct Callers {
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  void join() {
    for (auto& t : threads)
      if (t.joinable()) t.join();
  }
  ~Callers() {
    stop = true;
    join();
  }
};

// ---------------------------------------------------------------------------- the run

inline bool back_to(const std::vector<ProcSample>& start, const std::vector<ProcSample>& now) {
  for (std::size_t i = 0; i < start.size(); ++i)
    if (now[i].children != start[i].children || now[i].fds != start[i].fds) return false;
  return true;
}

inline double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

inline Report run(const Options& o) {
  auto say = [&](const std::string& s) {
    if (o.progress) o.progress(s);
  };
  Report rep;
  rep.mode = o.mode;
  rep.callers = o.callers;
  const auto warmup = o.warmup.count() > 0 ? o.warmup : std::chrono::milliseconds(o.duration) / 5;
  if (warmup * 2 > o.duration || o.callers < 1)
    throw std::invalid_argument("soak: the warm-up may take at most half the duration, and there must be a caller");
  rep.warmup_seconds = std::chrono::duration<double>(warmup).count();
  std::set<pid_t> end_processes;
  {
    say(o.mode == Mode::node ? "starting nats-server and mcpd" : "starting 3 nats-servers and 3 mcpd");
    Environment env(o);
    rep.start = env.wait_baseline(baseline_children(o.mode), 60s);
    auto conns = env.connections(o.callers);
    say("load: " + std::to_string(o.callers) + " callers for " + std::to_string(o.duration.count()) + " s");

    std::vector<std::vector<Record>> records(static_cast<std::size_t>(o.callers));
    const auto t0 = Clock::now(), deadline = t0 + o.duration;
    Callers callers;
    for (int c = 0; c < o.callers; ++c) {
      const auto i = static_cast<std::size_t>(c);
      callers.threads.emplace_back(caller_loop, std::cref(o), c, std::ref(*conns[i % conns.size()]), t0,
                                   std::cref(callers.stop), std::ref(records[i]));
    }

    // Measurements at set times into the run (the load runs meanwhile; nothing waits for it).
    std::this_thread::sleep_until(t0 + warmup);
    rep.warm = env.sample();
    say("warm-up over");
    std::optional<std::pair<Clock::time_point, Clock::time_point>> window;
    if (o.mode == Mode::cluster) {
      std::this_thread::sleep_until(std::max(t0 + warmup, t0 + o.duration * 2 / 5));
      const int n = Environment::kRestartedNats;
      const auto down = Clock::now();
      say("stopping nats-server n" + std::to_string(n + 1));
      env.cluster().stop_nats(n);
      std::this_thread::sleep_until(down + o.nats_down);  // the outage itself
      env.cluster().restart_nats(n);
      const auto up = Clock::now();
      env.cluster().wait_jetstream(60s);
      for (int i = 0; i < TestCluster::kSize; ++i) env.cluster().wait_node(i, 60s);
      const auto whole = Clock::now();
      // Reconnected clients and re-elected bucket leaders settle within moments of that.
      window.emplace(down, whole + 2s);
      rep.restart = detail::format(
          "nats-server n%d stopped at %.1f s, started again at %.1f s, cluster whole again at %.1f s; "
          "calls overlapping %.1f-%.1f s are counted as [restart]",
          n + 1, seconds_between(t0, down), seconds_between(t0, up), seconds_between(t0, whole),
          seconds_between(t0, down), seconds_between(t0, window->second));
      say(rep.restart);
    }
    // A slow recovery (a busy machine) extends the load: what comes after the restart is seen.
    const auto end = window ? std::max(deadline, window->second + 5s) : deadline;
    if (end > deadline) {
      rep.restart += detail::format("; the load ran on until %.1f s", seconds_between(t0, end));
      say(detail::format("recovery took long: the load runs on until %.1f s", seconds_between(t0, end)));
    }
    rep.load_seconds = seconds_between(t0, end);
    std::this_thread::sleep_until(end);
    callers.stop = true;
    callers.join();
    const auto stopped = Clock::now();
    say("load stopped; waiting for the nodes to return to their start counts");

    for (const auto& list : records)
      for (const auto& r : list) {
        const bool during = window && r.end >= window->first && r.start <= window->second;
        const std::string row = r.outcome + (during ? kDuringRestart : "");
        rep.calls[row][r.kind]++;
        if (!r.message.empty()) rep.first_message.try_emplace(std::string(kKindNames[r.kind]) + " " + row, r.message);
        if (window && r.start > window->second && r.outcome == "ok") rep.ok_after_restart[r.kind]++;
      }

    rep.settled = wait_until(
        [&] {
          rep.end = env.sample();
          return back_to(rep.start, rep.end);
        },
        o.settle_timeout, 100ms);
    rep.settle_seconds = seconds_between(stopped, Clock::now());
    rep.crashy_restarts = env.server_counter("crashy", "restarts");
    for (int i = 0; i < env.nodes(); ++i)
      for (const auto& [pid, state] : descendants(env.pid(i))) end_processes.insert(pid);
    rep.logs = env.logs(40);
    say("stopping the nodes");
    conns.clear();
    env.stop();
  }
  // What the nodes ran at the end must not outlive them (stdio servers are stopped with their
  // process group; orphans would be reaped by init, so "gone" is: no such process).
  auto alive = [&] {
    int n = 0;
    for (pid_t p : end_processes) n += (::kill(p, 0) == 0 || errno != ESRCH) ? 1 : 0;
    return n;
  };
  wait_until([&] { return alive() == 0; }, 20s, 50ms);
  rep.survivors = alive();
  return rep;
}

}  // namespace mcpd::test::soak
