// A whole mcpd cluster on loopback for tests: three nats-servers clustered with JetStream (each
// its own client, route and monitoring port and its own store directory, routes to the two
// others) and three real mcpd processes (node-1..node-3) with `[cluster] jetstream = "on"` and
// replicas 3, each listing all three NATS URLs (its own server first), each its own SQLite
// catalog, all with the native fake MCP server registered as "fake" (and any more_servers).
//
// Ready means: every nats-server sees a JetStream meta leader, and every mcpd answers its own
// $SRV.PING.mcpd.<id>. Helpers stop, kill and restart one nats-server or one mcpd (a restart
// keeps its ports, store and catalog), read a node's $SRV.STATS data, and ask a nats-server's
// monitoring endpoint who is connected. Everything waits by polling with a deadline.
//
// Start it from the test's own thread: the nats-servers die with the thread that started them.
#pragma once

#include "bus/connection.hpp"
#include "support/daemon_process.hpp"
#include "support/nats_server.hpp"
#include "support/test_support.hpp"

#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <array>
#include <csignal>
#include <fstream>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace mcpd::test {

// GET http://127.0.0.1:port<path>; the body, or nullopt when nothing answers in `timeout`.
inline std::optional<std::string> http_get(int port, const std::string& path,
                                           std::chrono::milliseconds timeout = std::chrono::seconds(2)) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::nullopt;
  timeval tv{};
  tv.tv_sec = timeout.count() / 1000;
  tv.tv_usec = (timeout.count() % 1000) * 1000;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return std::nullopt;
  }
  const std::string req = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
    ::close(fd);
    return std::nullopt;
  }
  std::string out;
  char buf[16384];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      out.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    break;
  }
  ::close(fd);
  auto body = out.find("\r\n\r\n");
  if (out.rfind("HTTP/1.", 0) != 0 || out.find(" 200 ") == std::string::npos || body == std::string::npos)
    return std::nullopt;
  return out.substr(body + 4);
}

// The last `lines` lines of `text`.
inline std::string tail(const std::string& text, std::size_t lines = 40) {
  if (text.empty()) return text;
  std::size_t pos = text.size(), n = 0;
  while (pos > 0 && n <= lines) {
    pos = text.rfind('\n', pos - 1);
    if (pos == std::string::npos) return text;
    ++n;
  }
  return text.substr(pos + 1);
}

struct TestClusterOptions {
  int max_sessions = 4;              // shared sessions of "fake" per node
  int max_isolated_sessions = 400;   // per node: room for every session a test opens
  int session_ttl_seconds = 60;
  int drain_timeout_ms = 10000;
  std::string log_level = "info";
  std::string more_servers;          // [[servers]] tables appended to every node's config
};

class TestCluster {
 public:
  static constexpr int kSize = 3;

  explicit TestCluster(TestClusterOptions options = {}) : opts_(std::move(options)) {
    // The servers first (each picks its client port), then route and monitoring ports that
    // differ from every port picked so far, then the configs they read when they start.
    std::set<int> taken;
    for (int i = 0; i < kSize; ++i) {
      NatsServerOptions o = NatsServerOptions::not_started();
      o.extra_args = {"-c", (nats_dirs_[i].path() / "nats.conf").string()};  // after -p: the client port stays
      nats_[i] = std::make_unique<NatsServer>(o);
      taken.insert(nats_[i]->port());
    }
    auto fresh_port = [&] {
      for (;;)
        if (int p = free_loopback_port(); taken.insert(p).second) return p;
    };
    for (int i = 0; i < kSize; ++i) {
      route_ports_[i] = fresh_port();
      http_ports_[i] = fresh_port();
    }
    for (int i = 0; i < kSize; ++i) {
      std::filesystem::create_directories(nats_dirs_[i].path() / "jetstream");
      std::ofstream f(nats_dirs_[i].path() / "nats.conf");
      f << "server_name: n" << (i + 1) << "\n"
        << "http: 127.0.0.1:" << http_ports_[i] << "\n"
        << "cluster {\n  name: mcpd-test\n  listen: 127.0.0.1:" << route_ports_[i] << "\n  routes: [\n";
      for (int j = 0; j < kSize; ++j)
        if (j != i) f << "    nats-route://127.0.0.1:" << route_ports_[j] << "\n";
      f << "  ]\n}\n"
        << "jetstream {\n  store_dir: \"" << (nats_dirs_[i].path() / "jetstream").string() << "\"\n}\n";
    }
    try {
      for (auto& s : nats_) s->start(std::chrono::seconds(30));  // a loaded CI box can be slow
      wait_jetstream();
      for (int i = 0; i < kSize; ++i) nodes_[i] = std::make_unique<DaemonProcess>(daemon_toml(i));
      for (int i = 0; i < kSize; ++i) wait_node(i);
    } catch (...) {
      shut_down();  // the destructor does not run when the constructor throws
      throw;
    }
  }

  ~TestCluster() { shut_down(); }

 private:
  void shut_down() {
    control_.reset();
    // mcpd first (their drains want NATS), all at once so they stop in parallel.
    for (auto& n : nodes_)
      if (n && n->pid() > 0) n->signal(SIGTERM);
    for (auto& n : nodes_)
      if (n && n->pid() > 0 && !n->wait_exit(std::chrono::seconds(20))) n->kill();
    for (auto& s : nats_)
      if (s) s->stop();
    // MCPD_CLUSTER_TEST_LOGS=DIR keeps every log (for looking into a failure or a slow stop).
    if (const char* keep = std::getenv("MCPD_CLUSTER_TEST_LOGS")) {
      std::error_code ec;
      auto dir = std::filesystem::path(keep) / std::to_string(::getpid());
      std::filesystem::create_directories(dir, ec);
      for (int i = 0; i < kSize; ++i) {
        const auto stamp = std::to_string(++kept_);
        if (nodes_[i]) std::ofstream(dir / (stamp + "-" + node_id(i) + ".log")) << nodes_[i]->log();
        if (nats_[i]) std::ofstream(dir / (stamp + "-n" + std::to_string(i + 1) + ".log")) << nats_[i]->log();
      }
    }
    nodes_ = {};
  }

 public:
  TestCluster(const TestCluster&) = delete;
  TestCluster& operator=(const TestCluster&) = delete;

  static std::string node_id(int i) { return "node-" + std::to_string(i + 1); }
  NatsServer& nats(int i) { return *nats_.at(i); }
  DaemonProcess& node(int i) { return *nodes_.at(i); }
  int http_port(int i) const { return http_ports_.at(i); }

  // A client connected to the given nats-servers (indexes 0..2).
  std::shared_ptr<bus::Connection> connect(const std::vector<int>& servers, const std::string& name = "test-client") {
    bus::Options o;
    for (int i : servers) o.servers.push_back(nats_.at(i)->url());
    o.name = name;
    o.retry_on_failed_connect = false;
    auto c = bus::Connection::connect(o);
    if (!c.ok()) throw std::runtime_error("test client cannot connect: " + c.error().message);
    return c.value();
  }

  // One client on each nats-server (clients[i] on server i): callers entering the cluster everywhere.
  std::array<std::shared_ptr<bus::Connection>, kSize> connect_each() {
    std::array<std::shared_ptr<bus::Connection>, kSize> clients;
    for (int i = 0; i < kSize; ++i) clients[i] = connect({i});
    return clients;
  }

  // One client per nats-server, made on first use: for $SRV requests and the like.
  bus::Connection& control() {
    if (!control_ || !control_->connected()) {
      std::vector<int> up;
      for (int i = 0; i < kSize; ++i)
        if (nats_[i]->running()) up.push_back(i);
      control_ = connect(up, "test-control");
    }
    return *control_;
  }

  // Every running nats-server sees the same JetStream meta leader and says it is healthy
  // (/healthz: JetStream enabled and current).
  bool jetstream_ready() {
    std::string leader;
    for (int i = 0; i < kSize; ++i) {
      if (!nats_[i]->running()) continue;
      auto health = http_get(http_ports_[i], "/healthz");
      if (!health || health->find("\"ok\"") == std::string::npos) return false;
      auto body = http_get(http_ports_[i], "/jsz");
      if (!body) return false;
      auto j = nlohmann::json::parse(*body, nullptr, false);
      if (!j.is_object() || !j.contains("meta_cluster")) return false;
      std::string l = j["meta_cluster"].value("leader", std::string());
      if (l.empty() || (!leader.empty() && l != leader)) return false;
      leader = l;
    }
    return !leader.empty();
  }
  void wait_jetstream(std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    if (!wait_until([&] { return jetstream_ready(); }, timeout, std::chrono::milliseconds(50)))
      throw std::runtime_error("no JetStream meta leader in time\n" + nats_logs());
  }

  // Node i answers $SRV.PING.mcpd.<id> (it has started completely) and says it serves.
  bool node_answers(int i, std::chrono::milliseconds timeout = std::chrono::milliseconds(500)) {
    auto r = control().request("$SRV.PING.mcpd." + node_id(i), "", timeout);
    return r.ok();
  }
  void wait_node(int i, std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    bool up = wait_until(
        [&] {
          if (nodes_[i]->pid() <= 0) return true;  // exited: fail at once, below
          if (nodes_[i]->wait_exit(std::chrono::milliseconds(0))) return true;
          return node_answers(i) && nodes_[i]->log().find("serving ") != std::string::npos;
        },
        timeout, std::chrono::milliseconds(50));
    if (!up || nodes_[i]->pid() <= 0)
      throw std::runtime_error(node_id(i) + (nodes_[i]->pid() <= 0 ? " exited at start" : " did not start serving in time") +
                               "; its log:\n" + tail(nodes_[i]->log(), 80));
  }

  // The data of node i's $SRV.STATS.mcpd.<id> (node, in_flight, servers{name: {revision, calls,
  // isolated_sessions, ...}}), or null when it does not answer.
  nlohmann::json stats(int i, std::chrono::milliseconds timeout = std::chrono::seconds(2)) {
    auto r = control().request("$SRV.STATS.mcpd." + node_id(i), "", timeout);
    if (!r.ok()) return nullptr;
    auto j = nlohmann::json::parse(r.value().data(), nullptr, false);
    if (!j.is_object() || !j.contains("data")) return nullptr;
    return j["data"];
  }
  // One server's figures on node i ({} when the node does not run it or does not answer).
  nlohmann::json server_stats(int i, const std::string& server) {
    auto s = stats(i);
    if (s.is_object() && s.contains("servers") && s["servers"].contains(server)) return s["servers"][server];
    return nlohmann::json::object();
  }

  // Connection names on nats-server i ("mcpd/node-1", ...), from its monitoring endpoint.
  std::vector<std::string> connection_names(int i) {
    std::vector<std::string> out;
    auto body = http_get(http_ports_[i], "/connz?limit=1024");
    if (!body) return out;
    auto j = nlohmann::json::parse(*body, nullptr, false);
    if (!j.is_object() || !j.contains("connections") || !j["connections"].is_array()) return out;
    for (const auto& c : j["connections"])
      if (c.contains("name") && c["name"].is_string()) out.push_back(c["name"].get<std::string>());
    return out;
  }
  // Which nats-server node i's mcpd is connected to, or -1.
  int server_of_node(int node) {
    for (int i = 0; i < kSize; ++i) {
      if (!nats_[i]->running()) continue;
      for (const auto& n : connection_names(i))
        if (n == "mcpd/" + node_id(node)) return i;
    }
    return -1;
  }

  // mcpd node i: SIGTERM and wait (its exit status), SIGKILL, or start again (same config,
  // store and log file) and wait until it serves.
  std::optional<int> stop_node(int i, std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    nodes_[i]->signal(SIGTERM);
    return nodes_[i]->wait_exit(timeout);
  }
  void kill_node(int i) { nodes_[i]->kill(); }
  // Node i's config file, its [[servers]] now the cluster's "fake" and `more_servers` (read at
  // its next start).
  void rewrite_node_config(int i, const std::string& more_servers) { nodes_[i]->rewrite_config(daemon_toml(i, more_servers)); }
  void restart_node(int i) {
    nodes_[i]->start();
    wait_node(i);
  }
  // nats-server i: SIGKILL, SIGTERM, or start again on the same ports with the same store.
  void kill_nats(int i) { nats_[i]->kill(); }
  void stop_nats(int i) { nats_[i]->stop(); }
  void restart_nats(int i) { nats_[i]->start(std::chrono::seconds(30)); }

  // Whether the mcpd process of node i still runs (not exited, not reaped).
  bool node_alive(int i) { return nodes_[i]->pid() > 0 && ::kill(nodes_[i]->pid(), 0) == 0; }

  // Which node's mcpd is the parent of process `pid` (a session's MCP server), or -1.
  int node_of_child(long pid) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    auto close = stat.rfind(')');
    if (close == std::string::npos) return -1;
    std::istringstream rest(stat.substr(close + 1));
    char state = 0;
    long ppid = 0;
    rest >> state >> ppid;
    for (int i = 0; i < kSize; ++i)
      if (nodes_[i] && nodes_[i]->pid() == ppid) return i;
    return -1;
  }

  // The tails of every log, for failure messages.
  std::string logs(std::size_t lines = 30) {
    std::string out;
    for (int i = 0; i < kSize; ++i)
      if (nodes_[i]) out += "--- mcpd " + node_id(i) + ":\n" + tail(nodes_[i]->log(), lines);
    return out + nats_logs(lines / 2);
  }
  std::string nats_logs(std::size_t lines = 20) {
    std::string out;
    for (int i = 0; i < kSize; ++i)
      if (nats_[i]) out += "--- nats-server n" + std::to_string(i + 1) + ":\n" + tail(nats_[i]->log(), lines);
    return out;
  }

 private:
  std::string daemon_toml(int i) const { return daemon_toml(i, opts_.more_servers); }
  std::string daemon_toml(int i, const std::string& more_servers) const {
    std::string urls = nats_[i]->url();  // its own server first: the nodes spread over the servers
    for (int j = 0; j < kSize; ++j)
      if (j != i) urls += "," + nats_[j]->url();
    std::ostringstream t;
    t << "[node]\nid = \"" << node_id(i) << "\"\n"
      << "[nats]\nurl = \"" << urls << "\"\n"
      << "[cluster]\njetstream = \"on\"\nreplicas = 3\nsession_ttl_seconds = " << opts_.session_ttl_seconds << "\n"
      << "[log]\nlevel = \"" << opts_.log_level << "\"\n"
      << "[defaults]\ndrain_timeout_ms = " << opts_.drain_timeout_ms << "\n"
      << "[[servers]]\nname = \"fake\"\ncommand = \"" << fake_server_path() << "\"\n"
      << "minSessions = 1\nmaxSessions = " << opts_.max_sessions << "\n"
      << "maxIsolatedSessions = " << opts_.max_isolated_sessions << "\n"
      << more_servers;
    return t.str();
  }

  TestClusterOptions opts_;
  std::array<TempDir, kSize> nats_dirs_;
  std::array<int, kSize> route_ports_{}, http_ports_{};
  std::array<std::unique_ptr<NatsServer>, kSize> nats_;
  std::array<std::unique_ptr<DaemonProcess>, kSize> nodes_;
  std::shared_ptr<bus::Connection> control_;
  static inline int kept_ = 0;
};

}  // namespace mcpd::test
