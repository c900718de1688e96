// The embedded default is locked: the real mcpd with no [nats] url starts its own nats-server on
// a free loopback port (catalog, credentials and JetStream store in a temporary directory) and
// requires a login. Shown here: the credentials directory is 0700 and local-nats 0600 (and are
// tightened when loosened), nats-server.conf is valid for nats-server and the password is not on
// its command line; a client without the login (or with a wrong one) is refused, so a forged
// mcp.servers.created cannot even be published; the file's login calls a tool; mcpctl with no
// login flag works from MCPD_STATE_DIR and from a quick-start working directory (./.mcpd), never
// sends the local password to another server, and says when the file is not readable; a restart
// keeps the password (a new port only rewrites the url); a non-loopback host needs allow_remote.
#include "bus/connection.hpp"
#include "support/bus_fixture.hpp"
#include "support/daemon_process.hpp"
#include "support/mcpctl_fixture.hpp"
#include "support/mcpctl_process.hpp"
#include "support/nats_server.hpp"
#include "support/test_support.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <regex>
#include <string>
#include <vector>

using namespace mcpd;
using namespace mcpd::test;
using namespace std::chrono_literals;
using Json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

// A node's config: the embedded nats-server on `port` (no [nats] url) and the fake MCP server.
std::string embedded_toml(int port, const std::string& embedded_extra = "") {
  return "[node]\nid = \"embedded-node\"\n[nats.embedded]\nport = " + std::to_string(port) + "\n" + embedded_extra +
         "[[servers]]\nname = \"fake\"\ncommand = \"" + fake_server_path() + "\"\nminSessions = 1\n";
}

unsigned mode_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

// The key=value lines of a local-nats file.
std::map<std::string, std::string> parse_login(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    auto eq = line.find('=');
    if (eq != std::string::npos) out[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return out;
}

// Runs a shell command line; its exit status and what it wrote (stdout and stderr).
std::pair<int, std::string> shell(const std::string& command) {
  std::string out;
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  REQUIRE(p);
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  int status = ::pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), out};
}

std::string quoted(const std::string& s) { return "'" + s + "'"; }

// Connects once, at once (no retrying in the background), so a refusal is the answer.
Result<std::shared_ptr<bus::Connection>> connect_once(int port, const std::string& user = {},
                                                      const std::string& password = {}) {
  bus::Options o;
  o.servers = {"nats://127.0.0.1:" + std::to_string(port)};
  o.name = "embedded-nats-test";
  o.user = user;
  o.password = password;
  o.retry_on_failed_connect = false;
  o.max_reconnect = 0;
  o.connect_timeout = 2000ms;
  o.delivery_threads = 1;
  return bus::Connection::connect(std::move(o));
}

// Speaks the NATS protocol by hand, as any local program could: CONNECT without a login, then
// PUB a server record to mcp.servers.created and PING. Returns everything the server answered
// until it closed the connection (or 5 s passed).
std::string raw_publish_without_login(int port, const std::string& subject, const std::string& payload) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  const std::string out = "CONNECT {\"verbose\":false,\"pedantic\":false,\"protocol\":1}\r\nPUB " + subject + " " +
                          std::to_string(payload.size()) + "\r\n" + payload + "\r\nPING\r\n";
  CHECK(::send(fd, out.data(), out.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(out.size()));
  std::string in;
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    in.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return in;
}

// One mcpd in embedded mode. Its state directory (catalog, credentials/, jetstream/) is the
// daemon's temporary directory, or `state_dir` (through MCPD_STORE_PATH) when given.
class EmbeddedNode {
 public:
  explicit EmbeddedNode(int port, const fs::path& state_dir = {}) : port_(port) {
    std::vector<std::string> env = {"MCPD_NATS_URL="};  // empty: no url, the embedded default
    if (!state_dir.empty()) env.push_back("MCPD_STORE_PATH=" + (state_dir / "catalog.db").string());
    daemon_ = std::make_unique<DaemonProcess>(embedded_toml(port), env);
    state_dir_ = state_dir.empty() ? daemon_->dir() : state_dir;
    serve();
  }
  ~EmbeddedNode() {
    if (!daemon_) return;
    daemon_->signal(SIGTERM);
    if (!daemon_->wait_exit(20s)) kill_all();
  }
  EmbeddedNode(const EmbeddedNode&) = delete;
  EmbeddedNode& operator=(const EmbeddedNode&) = delete;

  // SIGTERM; the daemon (and so its nats-server) must be gone, with status 0.
  void stop() {
    client_.reset();
    daemon_->signal(SIGTERM);
    auto status = daemon_->wait_exit(20s);
    if (!status) kill_all();
    INFO("mcpd's log:\n" << daemon_->log());
    REQUIRE(status.value_or(-1) == 0);
  }
  // Starts the same daemon again and waits until it serves.
  void restart() {
    daemon_->start();
    serve();
  }

  int port() const { return port_; }
  std::string url() const { return "nats://127.0.0.1:" + std::to_string(port_); }
  fs::path state_dir() const { return state_dir_; }
  fs::path credentials_dir() const { return state_dir_ / "credentials"; }
  fs::path login_file() const { return credentials_dir() / "local-nats"; }
  std::map<std::string, std::string> login() const { return parse_login(read_file(login_file())); }
  bus::Connection& client() { return *client_; }
  std::string log() const { return daemon_->log(); }
  // The pid of the nats-server this daemon started last (from its log).
  int nats_pid() const {
    static const std::regex started(R"(started an embedded nats-server on \S+ \(pid (\d+)\))");
    const std::string text = log();
    int pid = -1;
    for (auto it = std::sregex_iterator(text.begin(), text.end(), started); it != std::sregex_iterator(); ++it)
      pid = std::stoi((*it)[1]);
    return pid;
  }

 private:
  // Waits for the login file, connects with it and waits until the daemon answers.
  void serve() {
    bool written = wait_until([&] { return login().count("password") == 1; }, 20s, 20ms);
    if (!written) FAIL("mcpd wrote no " << login_file() << "; its log:\n" << daemon_->log());
    bus::Options o;
    o.servers = {url()};
    o.name = "embedded-nats-test";
    o.user = login().at("user");
    o.password = login().at("password");
    auto c = bus::Connection::connect(std::move(o));
    if (!c.ok()) FAIL(c.error().message << "\n" << daemon_->log());
    client_ = std::move(c).value();
    daemon_->wait_serving(*client_);
  }
  // The daemon did not stop: kill it, and its nats-server (which has its own process group).
  void kill_all() {
    const int pid = nats_pid();
    daemon_->kill();
    if (pid > 0) ::kill(-pid, SIGKILL);
  }

  int port_;
  std::unique_ptr<DaemonProcess> daemon_;
  fs::path state_dir_;
  std::shared_ptr<bus::Connection> client_;
};

Json call_echo(bus::Connection& client, const std::string& message) {
  auto reply = client.request("mcp.fake.execute", Json{{"tool", "echo"}, {"args", {{"message", message}}}}.dump(), 15s);
  REQUIRE(reply.ok());
  return Json::parse(reply.value().data());
}

const std::vector<std::string> kEcho = {"call", "fake", "echo", "--args", R"({"message":"no flags"})"};

}  // namespace

TEST_CASE("embedded nats: a private generated login is required and kept across restarts") {
  EmbeddedNode node(free_loopback_port());
  INFO("mcpd's log:\n" << node.log());

  // The credentials: directory 0700, files 0600, the url, user mcpd and a 32-byte password.
  CHECK(mode_of(node.credentials_dir()) == 0700);
  CHECK(mode_of(node.login_file()) == 0600);
  const fs::path conf = node.credentials_dir() / "nats-server.conf";
  CHECK(mode_of(conf) == 0600);
  const auto login = node.login();
  CHECK(login.at("url") == node.url());
  CHECK(login.at("user") == "mcpd");
  const std::string password = login.at("password");
  CHECK(std::regex_match(password, std::regex("[0-9a-f]{64}")));
  CHECK(fs::exists(node.state_dir() / "jetstream"));  // the JetStream store is in the state dir too

  // nats-server accepts the generated configuration; the password is in it, not on a command line.
  auto [status, output] = shell("PATH=\"$PATH:/usr/sbin:/usr/local/sbin\" nats-server -t -c " + quoted(conf.string()));
  CHECK(status == 0);
  CHECK_THAT(output, Catch::Contains("configuration file " + conf.string() + " is valid"));
  CHECK_THAT(read_file(conf), Catch::Contains("authorization") && Catch::Contains(password));
  const int nats_pid = node.nats_pid();
  REQUIRE(nats_pid > 0);
  std::string cmdline = read_file("/proc/" + std::to_string(nats_pid) + "/cmdline");
  CHECK_THAT(cmdline, Catch::Contains(conf.string()));
  CHECK_THAT(cmdline, !Catch::Contains(password));

  // No login, or a wrong one: refused.
  auto anonymous = connect_once(node.port());
  REQUIRE_FALSE(anonymous.ok());
  CHECK_THAT(anonymous.error().message, Catch::Contains("Authorization Violation", Catch::CaseSensitive::No));
  auto wrong = connect_once(node.port(), "mcpd", std::string(64, '0'));
  REQUIRE_FALSE(wrong.ok());
  CHECK_THAT(wrong.error().message, Catch::Contains("Authorization Violation", Catch::CaseSensitive::No));

  // So a forged server record cannot be published: NATS refuses before the PUB, and nothing ran.
  const std::string forged = Json{{"name", "forged"}, {"command", "/bin/sh"}, {"args", {"-c", "exit 0"}}}.dump();
  const std::string answer = raw_publish_without_login(node.port(), "mcp.servers.created", forged);
  CHECK_THAT(answer, Catch::Contains("Authorization Violation", Catch::CaseSensitive::No));
  CHECK_THAT(answer, !Catch::Contains("PONG"));
  auto list = node.client().request("mcp.admin.servers.list", "{}", 10s);
  REQUIRE(list.ok());
  CHECK_THAT(std::string(list.value().data()), Catch::Contains("\"fake\"") && !Catch::Contains("forged"));

  // The file's login calls a tool.
  CHECK(call_echo(node.client(), "with the login")["result"] == "with the login");

  // mcpctl with no login flag, given the node's state directory: lists servers and calls a tool.
  const std::vector<std::string> state_env = {"MCPD_STATE_DIR=" + node.state_dir().string()};
  CHECK_THAT(mcpctl({"server", "ls"}, 15s, state_env), ExitsWith(0).out(Catch::Contains("fake")));
  CHECK_THAT(mcpctl(kEcho, 15s, state_env), ExitsWith(0).out(Catch::Equals("no flags\n")));
  // Given a login, mcpctl uses it and not the file's (a wrong one is refused, and said so).
  CHECK_THAT(mcpctl({"--user", "mcpd", "--password", "guess", "server", "ls"}, 15s, state_env),
             ExitsWith(1).err(Catch::Contains("Authorization Violation", Catch::CaseSensitive::No) &&
                              Catch::Contains("refused this login")));

  // Loosened modes are tightened at the next start (with a warning); the password stays.
  node.stop();
  fs::permissions(node.credentials_dir(), fs::perms(0755));
  fs::permissions(node.login_file(), fs::perms(0644));
  node.restart();
  CHECK(mode_of(node.credentials_dir()) == 0700);
  CHECK(mode_of(node.login_file()) == 0600);
  CHECK_THAT(node.log(), Catch::Contains("was open to other users"));
  CHECK(node.login().at("password") == password);
  CHECK(call_echo(node.client(), "after a restart")["result"] == "after a restart");
  CHECK_THAT(mcpctl(kEcho, 15s, state_env), ExitsWith(0).out(Catch::Equals("no flags\n")));
  node.stop();
}

TEST_CASE("embedded nats: mcpctl finds the quick start's login from the repository root") {
  // The quick start's layout: the catalog in <root>/.mcpd, mcpctl run from <root>.
  TempDir root;
  const fs::path state = root.path() / ".mcpd";
  fs::create_directories(state);
  const std::vector<std::string> no_state_dir = {"MCPD_STATE_DIR="};  // empty: unset
  std::string password;
  {
    EmbeddedNode node(free_loopback_port(), state);
    INFO("mcpd's log:\n" << node.log());
    password = node.login().at("password");
    CHECK_THAT(mcpctl({"server", "ls"}, 15s, no_state_dir, root.path()), ExitsWith(0).out(Catch::Contains("fake")));
    CHECK_THAT(mcpctl(kEcho, 15s, no_state_dir, root.path()), ExitsWith(0).out(Catch::Equals("no flags\n")));
    // The same url written differently is the same server.
    CHECK_THAT(mcpctl({"--nats", "127.0.0.1:" + std::to_string(node.port()), "server", "ls"}, 15s, no_state_dir,
                      root.path()),
               ExitsWith(0).out(Catch::Contains("fake")));
    // Elsewhere no login is found: refused, with what to do.
    TempDir elsewhere;
    CHECK_THAT(mcpctl({"--nats", node.url(), "server", "ls"}, 15s, no_state_dir, elsewhere.path()),
               ExitsWith(1).err(Catch::Contains("Authorization Violation", Catch::CaseSensitive::No) &&
                                Catch::Contains("MCPD_STATE_DIR")));

    // Another server, even one that would take this very login, never gets the local password.
    TempDir other_dir;
    const fs::path other_conf = other_dir.path() / "other.conf";
    std::ofstream(other_conf) << "authorization { user: \"mcpd\", password: \"" << password << "\" }\n";
    NatsServerOptions other_options;
    other_options.extra_args = {"-c", other_conf.string()};
    NatsServer other(other_options);
    CHECK_THAT(mcpctl({"--nats", other.url(), "server", "ls"}, 15s, no_state_dir, root.path()),
               ExitsWith(1).err(Catch::Contains("Authorization Violation", Catch::CaseSensitive::No)));
    node.stop();
  }

  // On another port the same state directory keeps its password; only the url changes.
  EmbeddedNode moved(free_loopback_port(), state);
  INFO("mcpd's log:\n" << moved.log());
  CHECK(moved.login().at("password") == password);
  CHECK(moved.login().at("url") == moved.url());
  CHECK_THAT(mcpctl(kEcho, 15s, no_state_dir, root.path()), ExitsWith(0).out(Catch::Equals("no flags\n")));

  // A user who may not read the file is told so.
  if (::geteuid() == 0) {
    // As nobody, who cannot enter the (0700) temporary directory: the realistic case.
    auto [status, output] = shell("env -u MCPD_NATS_URL MCPD_STATE_DIR=" + quoted(state.string()) +
                                  " timeout 20 setpriv --reuid=65534 --regid=65534 --clear-groups " +
                                  quoted(MCPD_MCPCTL_BIN) + " --nats " + moved.url() + " server ls");
    CHECK(status == 1);
    CHECK_THAT(output, Catch::Contains("credentials file " + (state / "credentials" / "local-nats").string() +
                                       " is not readable by this user"));
  } else {
    TempDir closed;
    fs::create_directories(closed.path() / "credentials");
    fs::permissions(closed.path() / "credentials", fs::perms::none);
    CHECK_THAT(mcpctl({"--nats", moved.url(), "server", "ls"}, 15s, {"MCPD_STATE_DIR=" + closed.path().string()}),
               ExitsWith(1).err(Catch::Contains("is not readable by this user")));
    fs::permissions(closed.path() / "credentials", fs::perms::owner_all);
  }
  moved.stop();
}

TEST_CASE("embedded nats: a host other than loopback needs allow_remote") {
  TempDir dir;
  auto check = [&](const std::string& embedded_extra) {
    const fs::path conf = dir.path() / "mcpd.toml";
    std::ofstream(conf) << embedded_toml(4222, embedded_extra) << "[store]\npath = \"" << (dir.path() / "c.db").string()
                        << "\"\n";
    return shell("env -u MCPD_NATS_URL " + quoted(MCPD_DAEMON_BIN) + " --check --config " + quoted(conf.string()));
  };
  auto [refused_status, refused] = check("host = \"0.0.0.0\"\n");
  CHECK(refused_status == 1);
  CHECK_THAT(refused, Catch::Contains("[nats.embedded] host = \"0.0.0.0\" is not a loopback address") &&
                          Catch::Contains("allow_remote = true"));
  CHECK(check("host = \"10.1.2.3\"\n").first == 1);
  CHECK(check("host = \"0.0.0.0\"\nallow_remote = true\n").first == 0);
  for (const char* loopback : {"127.0.0.1", "127.0.0.2", "::1", "localhost"}) {
    INFO(loopback);
    CHECK(check("host = \"" + std::string(loopback) + "\"\n").first == 0);
  }
  // With a [nats] url there is no embedded server, and so nothing to refuse.
  const fs::path conf = dir.path() / "url.toml";
  std::ofstream(conf) << "[nats]\nurl = \"nats://127.0.0.1:4222\"\n[nats.embedded]\nhost = \"0.0.0.0\"\n";
  CHECK(shell("env -u MCPD_NATS_URL " + quoted(MCPD_DAEMON_BIN) + " --check --config " + quoted(conf.string())).first == 0);
}
