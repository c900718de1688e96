// mcpd against servers of every MCP era, end to end over NATS: a 2026-07-28 server written with
// the 2.x TypeScript SDK (stdio and Streamable HTTP, tests/servers/era2026_server.mjs),
// server-everything (2025-11-25, stdio) and a 2024-11-05 server on the legacy HTTP+SSE
// transport (tests/servers/legacy2024_sse_server.mjs). A caller sees the same contract from
// each; the negotiated revision shows in the node's log and in mcpctl probe; a 2026 server's
// request for input comes back as a tool_error that says so.
#include "bus/connection.hpp"
#include "support/daemon_process.hpp"
#include "support/mcpctl_process.hpp"
#include "support/nats_server.hpp"
#include "support/test_support.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <csignal>
#include <fcntl.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <set>

using namespace mcpd;
using namespace mcpd::test;
using Json = nlohmann::json;

namespace {

std::filesystem::path servers_dir() { return std::filesystem::path(MCPD_NODE_MODULES).parent_path() / "servers"; }

std::string node_binary() {
  std::string path = std::getenv("PATH") ? std::getenv("PATH") : "/usr/bin:/bin";
  for (std::size_t start = 0; start <= path.size();) {
    auto end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    auto candidate = std::filesystem::path(path.substr(start, end - start)) / "node";
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
    start = end + 1;
  }
  throw std::runtime_error("node is not on PATH");
}

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

bool listening(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// A Node.js test server listening on `port`, in its own process group (killed on teardown).
class NodeServer {
 public:
  NodeServer(const std::string& script, std::vector<std::string> args, int port, const std::filesystem::path& log)
      : log_(log) {
    std::vector<std::string> argv = {node_binary(), (servers_dir() / script).string()};
    argv.insert(argv.end(), args.begin(), args.end());
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);
    std::vector<char*> cargs;
    for (auto& a : argv) cargs.push_back(a.data());
    cargs.push_back(nullptr);
    int rc = posix_spawn(&pid_, cargs[0], &fa, &attr, cargs.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) throw std::runtime_error("cannot start " + script);
    if (!wait_until([&] { return listening(port); }, 30s, 50ms))
      throw std::runtime_error(script + " did not listen on port " + std::to_string(port) + "; log:\n" + read_file(log_));
  }
  ~NodeServer() {
    ::kill(-pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  NodeServer(const NodeServer&) = delete;
  NodeServer& operator=(const NodeServer&) = delete;

 private:
  std::filesystem::path log_;
  pid_t pid_ = -1;
};

// A nats-server, the two HTTP test servers, and mcpd with one server record per era.
struct Eras {
  TempDir scratch;
  NatsServer nats;
  int http_port = free_port(), sse_port = free_port();
  NodeServer http2026{"era2026_server.mjs", {"http", std::to_string(http_port)}, http_port, scratch.path() / "http2026.log"};
  NodeServer sse2024{"legacy2024_sse_server.mjs", {std::to_string(sse_port)}, sse_port, scratch.path() / "sse2024.log"};
  std::shared_ptr<bus::Connection> client;
  std::unique_ptr<DaemonProcess> daemon;

  std::string http_url() const { return "http://127.0.0.1:" + std::to_string(http_port) + "/mcp"; }
  std::string sse_url() const { return "http://127.0.0.1:" + std::to_string(sse_port) + "/sse"; }

  Eras() {
    bus::Options o;
    o.servers = {nats.url()};
    o.name = "eras-test";
    client = bus::Connection::connect(o).value();
    const std::string script = (servers_dir() / "era2026_server.mjs").string();
    daemon = std::make_unique<DaemonProcess>("[node]\nid = \"eras\"\n[nats]\nurl = \"" + nats.url() + "\"\n" + R"(
[[servers]]
name = "stdio2026"
command = ")" + node_binary() + R"("
args = [")" + script + R"(", "stdio"]
minSessions = 1

[[servers]]
name = "http2026"
transport = "http"
url = ")" + http_url() + R"("
minSessions = 1

[[servers]]
name = "everything"
command = ")" + npm_bin("mcp-server-everything") + R"("
minSessions = 1

[[servers]]
name = "sse2024"
transport = "sse"
url = ")" + sse_url() + R"("
minSessions = 1
)");
    daemon->wait_serving(*client);
  }
  ~Eras() {
    daemon->signal(SIGTERM);
    daemon->wait_exit();
  }

  Json request(const std::string& subject, const Json& body) {
    auto r = client->request(subject, body.dump(), 30s);
    if (!r.ok()) FAIL("request to " << subject << " failed: " << r.error().message << "\nmcpd log:\n" << daemon->log());
    return Json::parse(r.value().data(), nullptr, false);
  }
  Json execute(const std::string& server, Json body) { return request("mcp." + server + ".execute", body); }
  std::set<std::string> tool_names(const std::string& server) {
    Json r = request("mcp." + server + ".list-tools", Json::object());
    INFO(r.dump());
    REQUIRE(r["tools"].is_array());
    std::set<std::string> names;
    for (const auto& t : r["tools"]) names.insert(t["name"].get<std::string>());
    return names;
  }
  // The revision the node's log says a session of `server` opened with.
  bool log_says(const std::string& server, const std::string& version) {
    return wait_until([&] {
      return daemon->log().find("[" + server + "] session ready: ") != std::string::npos &&
             daemon->log().find("(protocol " + version + ")") != std::string::npos;
    }, 30s, 100ms);
  }
};

}  // namespace

TEST_CASE("a caller sees the same contract from servers of every era") {
  Eras e;
  struct Case {
    std::string server, echo_reply, version;
  };
  for (const Case& c : {Case{"stdio2026", "hi", "2026-07-28"}, Case{"http2026", "hi", "2026-07-28"},
                        Case{"everything", "Echo: hi", "2025-11-25"}, Case{"sse2024", "hi", "2024-11-05"}}) {
    INFO("server " << c.server);
    Json r = e.execute(c.server, {{"tool", "echo"}, {"args", {{"message", "hi"}}}});
    INFO(r.dump() << "\nmcpd log:\n" << e.daemon->log());
    CHECK(r["result"] == c.echo_reply);
    CHECK_FALSE(r.contains("error"));
    CHECK(e.tool_names(c.server).count("echo") == 1);
    CHECK(e.log_says(c.server, c.version));
  }

  // The whole result is the same shape as from any server: the era's wire fields stay on the wire.
  Json whole = e.execute("http2026", {{"tool", "add"}, {"args", {{"a", 2}, {"b", 3}}}, {"format", "mcp"}});
  INFO(whole.dump());
  CHECK(whole["result"]["structuredContent"] == Json{{"sum", 5}});
  CHECK_FALSE(whole["result"].contains("resultType"));
  CHECK(e.execute("stdio2026", {{"tool", "add"}, {"args", {{"a", 2}, {"b", 3}}}})["result"] == Json{{"sum", 5}});
}

TEST_CASE("a 2026 server's request for input comes back as a tool_error that says so") {
  Eras e;
  for (const std::string server : {"stdio2026", "http2026"}) {
    for (const std::string tool : {"confirm", "resume_later"}) {
      Json r = e.execute(server, {{"tool", tool}, {"args", Json::object()}});
      INFO(server << " " << tool << ": " << r.dump());
      CHECK(r["code"] == "tool_error");
      CHECK_THAT(r.value("error", std::string()), Catch::Contains("needs input"));
    }
  }
  // The session is fine afterwards.
  CHECK(e.execute("http2026", {{"tool", "echo"}, {"args", {{"message", "still"}}}})["result"] == "still");
}

TEST_CASE("mcpctl probe shows the revision a server speaks") {
  Eras e;
  auto modern = mcpctl({"probe", "--url", e.http_url(), "--json"}, 30s);
  INFO(modern);
  REQUIRE(modern.exit_code == 0);
  Json doc = Json::parse(modern.out);
  CHECK(doc["server"]["protocolVersion"] == "2026-07-28");
  CHECK(doc["server"]["serverInfo"]["name"] == "era2026-test-server");

  auto legacy = mcpctl({"probe", "--url", e.sse_url(), "--transport", "sse", "--json"}, 30s);
  INFO(legacy);
  REQUIRE(legacy.exit_code == 0);
  CHECK(Json::parse(legacy.out)["server"]["protocolVersion"] == "2024-11-05");
}
