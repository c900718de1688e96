// The node's second wall, end to end (a real nats-server, the real mcpd binary, the native fake
// server, a remote HTTP server): the [security] policy refuses run-time registrations and
// catalog events that break it, with `forbidden` naming the rule; remote_registration = false
// keeps the catalog to the config file; and a secret given by reference reaches its server
// while its value appears nowhere else — not on the bus, in the bucket, in SQLite, in an admin
// reply or in the log.
#include "bus/connection.hpp"
#include "bus/kv.hpp"
#include "support/daemon_process.hpp"
#include "support/nats_server.hpp"
#include "support/test_support.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>

extern char** environ;

using namespace mcpd;
using namespace mcpd::test;
using Json = nlohmann::json;

namespace {

struct Reply {
  Json body;
  std::optional<std::string> code_header;
  std::string raw;
};

// A nats-server (JetStream optional), a client, and mcpd with `toml` and extra environment.
struct Node {
  TempDir scratch;
  NatsServer nats;
  std::shared_ptr<bus::Connection> client;
  std::unique_ptr<DaemonProcess> daemon;

  Node(const std::string& toml, bool jetstream = false, std::vector<std::string> env = {})
      : nats(options(jetstream)) {
    bus::Options o;
    o.servers = {nats.url()};
    o.name = "security-test";
    client = bus::Connection::connect(o).value();
    daemon = std::make_unique<DaemonProcess>("[node]\nid = \"sec-node\"\n[nats]\nurl = \"" + nats.url() + "\"\n" +
                                                 "[cluster]\njetstream = \"" + (jetstream ? "on" : "off") + "\"\n" + toml,
                                             std::move(env));
    daemon->wait_serving(*client);
  }
  ~Node() {
    daemon->signal(SIGTERM);
    daemon->wait_exit();
  }
  static NatsServerOptions options(bool jetstream) {
    NatsServerOptions o;
    o.jetstream = jetstream;
    return o;
  }

  Reply request(const std::string& subject, const Json& body) {
    auto r = client->request(subject, body.dump(), std::chrono::seconds(20));
    if (!r.ok()) FAIL("request to " << subject << " failed: " << r.error().message << "\nmcpd log:\n" << daemon->log());
    Reply out;
    out.raw = std::string(r.value().data());
    out.body = Json::parse(out.raw, nullptr, false);
    out.code_header = r.value().header("Nats-Service-Error-Code");
    return out;
  }
  Reply put(const Json& server) { return request("mcp.admin.servers.put", server); }
  Reply call(const std::string& server, const Json& body) { return request("mcp." + server + ".execute", body); }
  bool log_has(const std::string& fragment, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    return wait_until([&] { return daemon->log().find(fragment) != std::string::npos; }, timeout);
  }
};

void check_forbidden(const Reply& r, const std::string& fragment) {
  INFO(r.raw);
  CHECK(r.body.value("code", "") == "forbidden");
  CHECK(r.code_header == std::optional<std::string>("403"));
  CHECK_THAT(r.body.value("error", ""), Catch::Contains(fragment));
}

std::string fake_toml(const std::string& name = "fake") {
  return "\n[[servers]]\nname = \"" + name + "\"\ncommand = \"" + fake_server_path() + "\"\n";
}

Json shell_server(const std::string& name, const std::filesystem::path& marker) {
  return {{"name", name}, {"command", "/bin/sh"}, {"args", {"-c", ": > '" + marker.string() + "'"}}, {"minSessions", 1}};
}

Json fake_server(const std::string& name) { return {{"name", name}, {"command", fake_server_path()}}; }

std::string random_hex(std::size_t bytes) {
  std::random_device rd;
  std::string out;
  const char* digits = "0123456789abcdef";
  for (std::size_t i = 0; i < bytes; ++i) {
    auto b = rd() & 0xff;
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}

std::string fnv1a64(const std::string& s) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

// A remote MCP server over Streamable HTTP (JSON answers) that serves only requests carrying
// the secret in both its Authorization and X-Api-Key headers; its one tool says "authorized".
const char* kSecretServerJs = R"JS(
const http = require('http');
const expected = process.env.EXPECTED_SECRET;
http.createServer((req, res) => {
  let body = '';
  req.on('data', (c) => body += c);
  req.on('end', () => {
    if (req.method !== 'POST') { res.writeHead(405); return res.end(); }
    if (req.headers['authorization'] !== 'Bearer ' + expected || req.headers['x-api-key'] !== expected) {
      res.writeHead(401, { 'content-type': 'text/plain' });
      return res.end('unauthorized');
    }
    const m = JSON.parse(body);
    if (m.id === undefined) { res.writeHead(202); return res.end(); }
    let result;
    if (m.method === 'initialize') {
      result = { protocolVersion: m.params.protocolVersion, capabilities: { tools: {} }, serverInfo: { name: 'secret-server', version: '1.0.0' } };
    } else if (m.method === 'tools/list') {
      result = { tools: [{ name: 'whoami', inputSchema: { type: 'object' } }] };
    } else if (m.method === 'tools/call') {
      result = { content: [{ type: 'text', text: 'authorized' }] };
    } else if (m.method === 'ping') {
      result = {};
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(result ? { jsonrpc: '2.0', id: m.id, result }
                                  : { jsonrpc: '2.0', id: m.id, error: { code: -32601, message: 'unknown method' } }));
  });
}).listen(Number(process.argv[2]), '127.0.0.1');
)JS";

// The secret server as a child in its own process group, killed with it on destruction.
class SecretServer {
 public:
  SecretServer(const TempDir& dir, const std::string& secret) : port_(free_loopback_port()) {
    auto script = dir.path() / "secret-server.js";
    std::ofstream(script) << kSecretServerJs;
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    const std::string log = (dir.path() / "secret-server.log").string();
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
    std::vector<std::string> env_s;
    for (char** e = environ; *e; ++e) env_s.emplace_back(*e);
    env_s.push_back("EXPECTED_SECRET=" + secret);
    std::vector<char*> envp;
    for (auto& e : env_s) envp.push_back(e.data());
    envp.push_back(nullptr);
    std::string node = "node", path = script.string(), port = std::to_string(port_);
    char* argv[] = {node.data(), path.data(), port.data(), nullptr};
    const int rc = ::posix_spawnp(&pid_, "node", &fa, &attr, argv, envp.data());
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) throw std::runtime_error("cannot start node for the secret server");
    if (!wait_until([&] { return loopback_port_accepts(port_); }, std::chrono::seconds(20)))
      throw std::runtime_error("the secret server did not listen: " + read_file(log));
  }
  ~SecretServer() {
    ::kill(-pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/mcp"; }

 private:
  int port_;
  pid_t pid_ = -1;
};

// Every message on the bus, in every subject the test's account sees ($KV and $JS included).
class BusRecorder {
 public:
  explicit BusRecorder(bus::Connection& c) {
    for (const char* subject : {">", "$KV.>", "$JS.>", "_INBOX.>"})
      subs_.push_back(c.subscribe(subject, [this](bus::Message m) {
                         std::lock_guard lock(mu_);
                         all_ += std::string(m.subject()) + " " + std::string(m.data()) + "\n";
                         for (const auto& [k, v] : m.headers()) all_ += k + ": " + v + "\n";
                       }).value());
  }
  std::string text() const {
    std::lock_guard lock(mu_);
    return all_;
  }

 private:
  mutable std::mutex mu_;
  std::string all_;
  std::vector<std::unique_ptr<bus::Subscription>> subs_;
};

}  // namespace

TEST_CASE("security: the policy refuses run-time registrations that break it and names the rule") {
  TempDir scratch;
  const auto marker = scratch.path() / "shell.marker";
  Node n("[security]\nallowed_commands = [\"" + fake_server_path() +
         "\"]\nallowed_urls = [\"127.0.0.1\"]\n" + fake_toml());

  // An admin put of a program the policy does not list: refused before anything is stored.
  check_forbidden(n.put(shell_server("shell", marker)), "command '/bin/sh' is not in [security] allowed_commands");
  CHECK(n.request("mcp.admin.servers.get", {{"name", "shell"}}).body.value("code", "") == "invalid_request");
  check_forbidden(n.put({{"name", "far"}, {"transport", "http"}, {"url", "https://example.com/mcp"}}),
                  "the host of url 'https://example.com/mcp' is not in [security] allowed_urls (127.0.0.1)");
  check_forbidden(n.put({{"name", "leaky"},
                         {"transport", "http"},
                         {"url", "http://127.0.0.1:1/mcp"},
                         {"headers", {{"Authorization", "Bearer ${HOME}"}}}}),
                  "${HOME} is not allowed by [security] secret_env (MCPD_SECRET_*)");
  check_forbidden(n.put({{"name", "reader"},
                         {"transport", "http"},
                         {"url", "http://127.0.0.1:1/mcp"},
                         {"auth", {{"type", "bearer"}, {"tokenFile", "/etc/shadow"}}}}),
                  "auth.tokenFile '/etc/shadow' is outside [security] secrets_dir");
  // A literal credential is a malformed record, whatever the policy.
  auto literal = n.put({{"name", "literal"},
                        {"transport", "http"},
                        {"url", "http://127.0.0.1:1/mcp"},
                        {"headers", {{"Authorization", "Bearer literal-value-1234"}}}});
  CHECK(literal.body.value("code", "") == "invalid_request");
  CHECK_THAT(literal.raw, !Catch::Contains("literal-value-1234"));

  // What the policy allows still works.
  REQUIRE(n.put(fake_server("allowed")).body.contains("server"));
  CHECK(n.call("allowed", {{"tool", "echo"}, {"args", {{"message", "hi"}}}}).body.value("result", "") == "hi");

  // A plain publish of the attack record (no JetStream: events are applied, within the policy).
  // Events apply in arrival order, so once the allowed one behind it runs, the shell one was decided.
  REQUIRE(n.client->publish("mcp.servers.created", shell_server("shell", marker).dump()).ok());
  REQUIRE(n.client->publish("mcp.servers.created", fake_server("after").dump()).ok());
  REQUIRE(wait_until([&] {
    auto r = n.client->request("mcp.after.execute", R"({"tool":"echo","args":{"message":"x"}})", std::chrono::seconds(5));
    return r.ok() && std::string(r.value().data()).find("\"result\"") != std::string::npos;
  }, std::chrono::seconds(20)));
  CHECK(n.log_has("[shell] a created event not applied: server 'shell': command '/bin/sh' is not in [security] allowed_commands"));
  CHECK_FALSE(std::filesystem::exists(marker));
  CHECK(n.call("shell", {{"tool", "echo"}}).body.value("error", "").starts_with("no MCP server named 'shell'"));
  // NATS has no authentication here but the commands are listed: no warning about it.
  CHECK(n.daemon->log().find("without authentication") == std::string::npos);
}

TEST_CASE("security: remote_registration = false keeps the catalog to the config file") {
  Node n("[security]\nremote_registration = false\n" + fake_toml());
  CHECK(n.call("fake", {{"tool", "echo"}, {"args", {{"message", "from the file"}}}}).body.value("result", "") ==
        "from the file");
  check_forbidden(n.put(fake_server("added")),
                  "registering or removing a server through mcp.admin.servers.put is refused: [security] "
                  "remote_registration = false");
  check_forbidden(n.request("mcp.admin.servers.delete", {{"name", "fake"}}), "remote_registration = false");

  REQUIRE(n.client->publish("mcp.servers.deleted", Json{{"name", "fake"}, {"revision", 1000}}.dump()).ok());
  REQUIRE(n.client->publish("mcp.servers.created", fake_server("added").dump()).ok());
  CHECK(n.log_has("[fake] a deleted event not applied"));
  CHECK(n.log_has("[added] a created event not applied"));
  CHECK(n.call("fake", {{"tool", "echo"}, {"args", {{"message", "still here"}}}}).body.value("result", "") == "still here");
  CHECK(n.call("added", {{"tool", "echo"}}).body.value("error", "").starts_with("no MCP server named 'added'"));
  // Read-only verbs still answer.
  CHECK(n.request("mcp.admin.servers.list", Json::object()).body["servers"].size() == 1);
}

TEST_CASE("security: a record in the cluster's bucket that the policy refuses is not run and callers hear why") {
  TempDir scratch;
  const auto marker = scratch.path() / "bucket.marker";
  Node n("[security]\nallowed_commands = [\"" + fake_server_path() + "\"]\n" + fake_toml(), true);
  bus::KvOptions o;
  o.bucket = "mcp-catalog";
  auto kv = bus::KeyValue::open(*n.client, o);
  REQUIRE(kv.ok());
  // Whoever can write the bucket (the node role) still cannot make this node run a program
  // outside its policy.
  REQUIRE(kv.value()->put("shell", shell_server("shell", marker).dump()).ok());
  REQUIRE(n.log_has("[shell] not run"));
  auto r = n.call("shell", {{"tool", "echo"}});
  check_forbidden(r, "not run on this node: server 'shell': command '/bin/sh' is not in [security] allowed_commands");
  CHECK_FALSE(std::filesystem::exists(marker));
  CHECK(n.call("fake", {{"tool", "echo"}, {"args", {{"message", "ok"}}}}).body.value("result", "") == "ok");
}

TEST_CASE("security: mcpd warns at start when NATS has no authentication and any program may run") {
  Node n(fake_toml());
  CHECK(n.log_has("is used without authentication and [security] allowed_commands is empty"));
}

TEST_CASE("security: a canary secret given by reference reaches its servers and appears nowhere else") {
  const std::string canary = "canary-" + random_hex(16);
  TempDir secrets;
  {
    std::ofstream f(secrets.path() / "api-key");
    f << canary << "\n";
  }
  SecretServer remote(secrets, canary);
  auto n = std::make_unique<Node>("[log]\nlevel = \"debug\"\n[security]\nsecrets_dir = \"" + secrets.path().string() + "\"\n",
                             true, std::vector<std::string>{"MCPD_SECRET_CANARY=" + canary});
  BusRecorder recorder(*n->client);  // from here on: every event, KV write and reply

  auto put_remote = n->put({{"name", "remote"},
                            {"transport", "http"},
                            {"url", remote.url()},
                            {"headers", {{"Authorization", "Bearer ${MCPD_SECRET_CANARY}"}, {"X-Api-Key", "${file:api-key}"}}}});
  REQUIRE(put_remote.body.contains("server"));
  auto put_local = n->put({{"name", "local"},
                           {"command", fake_server_path()},
                           {"env", {{"API_TOKEN", "${MCPD_SECRET_CANARY}"}, {"FILE_TOKEN", "${file:api-key}"}}}});
  REQUIRE(put_local.body.contains("server"));

  // The secrets arrived: the remote server answers only with both headers right, and the
  // child's variables hash to the canary's digest.
  CHECK(n->call("remote", {{"tool", "whoami"}}).body.value("result", "") == "authorized");
  CHECK(n->call("local", {{"tool", "env_digest"}, {"args", {{"name", "API_TOKEN"}}}}).body.value("result", "") ==
        fnv1a64(canary));
  CHECK(n->call("local", {{"tool", "env_digest"}, {"args", {{"name", "FILE_TOKEN"}}}}).body.value("result", "") ==
        fnv1a64(canary));

  // Everywhere a record goes, only the reference is written.
  std::string admin = n->request("mcp.admin.servers.get", {{"name", "remote"}}).raw +
                      n->request("mcp.admin.servers.get", {{"name", "local"}}).raw +
                      n->request("mcp.admin.servers.list", Json::object()).raw + put_remote.raw + put_local.raw;
  CHECK_THAT(admin, Catch::Contains("${MCPD_SECRET_CANARY}"));
  CHECK_THAT(admin, !Catch::Contains(canary));
  bus::KvOptions o;
  o.bucket = "mcp-catalog";
  auto kv = bus::KeyValue::open(*n->client, o);
  REQUIRE(kv.ok());
  for (const char* key : {"remote", "local"}) {
    auto entry = kv.value()->get(key);
    REQUIRE(entry.ok());
    REQUIRE(entry.value().has_value());
    CHECK_THAT(std::string(entry.value()->value), Catch::Contains("${file:api-key}"));
    CHECK_THAT(std::string(entry.value()->value), !Catch::Contains(canary));
  }
  const auto dir = n->daemon->dir();
  std::string bus_text = recorder.text();
  CHECK_THAT(bus_text, Catch::Contains("${MCPD_SECRET_CANARY}"));  // the recorder saw the records
  CHECK_THAT(bus_text, !Catch::Contains(canary));
  std::string files;
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    if (entry.is_regular_file() && entry.path().filename().string().starts_with("catalog.db"))
      files += read_file(entry.path());
  CHECK_THAT(files, Catch::Contains("${MCPD_SECRET_CANARY}"));  // the records are there, as references
  CHECK_THAT(files, !Catch::Contains(canary));
  const std::string log = n->daemon->log();
  CHECK_THAT(log, Catch::Contains("[remote] serving"));
  CHECK_THAT(log, !Catch::Contains(canary));
}

TEST_CASE("security: mcpd --check refuses a malformed [security] table naming the key") {
  TempDir dir;
  auto check = [&](const std::string& toml) {
    const auto file = dir.path() / "mcpd.toml";
    std::ofstream(file) << "[nats]\nurl = \"nats://127.0.0.1:1\"\n[security]\n" << toml;
    std::string out;
    FILE* p = ::popen((daemon_path() + " --check --config '" + file.string() + "' 2>&1").c_str(), "r");
    REQUIRE(p);
    char buf[512];
    while (std::fgets(buf, sizeof buf, p)) out += buf;
    const int status = ::pclose(p);
    return std::make_pair(WIFEXITED(status) ? WEXITSTATUS(status) : -1, out);
  };
  auto [ok_rc, ok_out] = check("allowed_commands = [\"npx\", \"/usr/bin/node\", \"/opt/mcp/\"]\nsecret_env = [\"A\", \"TEAM_*\"]\n");
  CHECK(ok_rc == 0);
  CHECK_THAT(ok_out, Catch::Contains("configuration OK"));
  auto [rc1, out1] = check("allowed_commands = [\"bin/sh\"]\n");
  CHECK(rc1 == 1);
  CHECK_THAT(out1, Catch::Contains("security.allowed_commands: 'bin/sh' must be a program name"));
  auto [rc2, out2] = check("allowed_urls = [\"https://api.example.com/mcp\"]\n");
  CHECK(rc2 == 1);
  CHECK_THAT(out2, Catch::Contains("security.allowed_urls: 'https://api.example.com/mcp' must be a host pattern"));
  auto [rc3, out3] = check("secret_env = [\"1BAD\"]\n");
  CHECK(rc3 == 1);
  CHECK_THAT(out3, Catch::Contains("security.secret_env: '1BAD'"));
  auto [rc4, out4] = check("remote_registration = \"no\"\n");
  CHECK(rc4 == 1);
  CHECK_THAT(out4, Catch::Contains("security.remote_registration: expected true or false"));
  auto [rc5, out5] = check("secrets_dir = \"relative/dir\"\n");
  CHECK(rc5 == 1);
  CHECK_THAT(out5, Catch::Contains("security.secrets_dir must be an absolute path"));
}
