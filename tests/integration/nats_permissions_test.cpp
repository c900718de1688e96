// The NATS roles of deploy/nats/ end to end: the real nats-server started with the SHIPPED
// deploy/nats/permissions.conf (and multi-tenant.conf), the real mcpd connected as the node
// user (JetStream on: the catalog and session buckets are created and used under the node
// role), the real mcpctl as the operator, and bus::Connection clients as callers.
//
// The shipped files are used as they are, except for two things a test must change: the
// JetStream store directory (a line of the file, replaced in a copy: nats-server refuses -sd
// beside a store_dir of its config) and the listen address (-a/-p on the command line, which
// override the file's `listen`). The passwords are the file's own placeholders, environment
// variables, set once before main() (every process this test starts inherits them).
//
// A refused publish or subscription is proven twice: the nats-server logs a "Publish Violation"
// / "Subscription Violation" for that user and subject, and what it would have done does not
// happen (no marker file from a /bin/sh "MCP server", the catalog unchanged, no reply). Each
// refusal is followed by the same message sent by a role that may send it, which does take
// effect: the payloads are real attacks, not messages mcpd would have ignored anyway.
#include "bus/connection.hpp"
#include "support/daemon_process.hpp"
#include "support/log_capture.hpp"
#include "support/mcpctl_fixture.hpp"
#include "support/mcpctl_process.hpp"
#include "support/nats_server.hpp"
#include "support/test_support.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

using namespace mcpd;
using namespace mcpd::test;
using Json = nlohmann::json;

namespace {

const std::filesystem::path kDeployDir = MCPD_NATS_DEPLOY_DIR;
const std::string kStoreDirLine = "store_dir: \"/var/lib/nats/jetstream\"";

// A password made of letters, digits and '-', starting with a letter (how the shipped files
// say to make one: nats-server parses the environment variable's value as a config value).
std::string random_password() {
  std::random_device rd;
  std::mt19937_64 rng(rd());
  static const char* hex = "0123456789abcdef";
  std::string out = "pw-";
  for (int i = 0; i < 24; ++i) out += hex[rng() % 16];
  return out;
}

// The passwords of every user of the shipped files, exported before main() so that no thread
// of this process is running yet when the environment changes.
const std::map<std::string, std::string>& passwords() {
  static const std::map<std::string, std::string> p = [] {
    std::map<std::string, std::string> m;
    for (const char* var : {"MCPD_NODE_PASSWORD", "MCPD_OPERATOR_PASSWORD", "MCPD_CALLER_PASSWORD",
                            "TENANT_A_NODE_PASSWORD", "TENANT_A_OPERATOR_PASSWORD", "TENANT_A_CALLER_PASSWORD",
                            "TENANT_B_NODE_PASSWORD", "TENANT_B_OPERATOR_PASSWORD", "TENANT_B_CALLER_PASSWORD"}) {
      m[var] = random_password();
      ::setenv(var, m[var].c_str(), 1);
    }
    return m;
  }();
  return p;
}
[[maybe_unused]] const bool kPasswordsExported = !passwords().empty();

std::string password(const std::string& var) { return passwords().at(var); }

// The last `n` lines of `text`, for failure messages.
std::string tail(const std::string& text, std::size_t n) {
  std::size_t pos = text.size();
  for (std::size_t i = 0; i <= n && pos != std::string::npos && pos > 0; ++i) pos = text.rfind('\n', pos - 1);
  return pos == std::string::npos || pos == 0 ? text : text.substr(pos + 1);
}

// A nats-server running a copy of the shipped deploy/nats/<file>, its store directory moved
// into a temporary directory; on a free loopback port.
struct ShippedNats {
  TempDir dir;
  std::unique_ptr<NatsServer> server;

  explicit ShippedNats(const std::string& file) {
    std::string conf = read_file(kDeployDir / file);
    auto at = conf.find(kStoreDirLine);
    if (at == std::string::npos || conf.find(kStoreDirLine, at + 1) != std::string::npos)
      throw std::runtime_error("deploy/nats/" + file + " must hold exactly one line " + kStoreDirLine);
    conf.replace(at, kStoreDirLine.size(), "store_dir: \"" + (dir.path() / "jetstream").string() + "\"");
    std::ofstream(dir.path() / file) << conf;
    NatsServerOptions o;
    o.extra_args = {"-c", (dir.path() / file).string()};  // after -a/-p: the test's port wins
    server = std::make_unique<NatsServer>(o);
  }

  std::string url() const { return server->url(); }
  std::string log() const { return server->log(); }
  // nats://user:password@127.0.0.1:port, for mcpctl (which has no user/password flags).
  std::string url_as(const std::string& user, const std::string& pw) const {
    return "nats://" + user + ":" + pw + "@127.0.0.1:" + std::to_string(server->port());
  }

  std::shared_ptr<bus::Connection> connect(const std::string& user, const std::string& pw, const std::string& name) {
    bus::Options o;
    o.servers = {url()};
    o.name = name;
    o.user = user;
    o.password = pw;
    o.retry_on_failed_connect = false;
    auto c = bus::Connection::connect(o);
    if (!c.ok()) throw std::runtime_error(user + " cannot connect: " + c.error().message);
    return c.value();
  }

  // The server logged that `user` was refused `kind` ("Publish" or "Subscription") on `subject`.
  bool refused(const std::string& kind, const std::string& user, const std::string& subject) const {
    const std::string line = kind + " Violation - User \"" + user + "\", Subject \"" + subject + "\"";
    return log().find(line) != std::string::npos;
  }
  bool wait_refused(const std::string& kind, const std::string& user, const std::string& subject) const {
    return wait_until([&] { return refused(kind, user, subject); }, 10s);
  }
  // Every violation the server logged for `user`.
  std::vector<std::string> violations_of(const std::string& user) const {
    std::vector<std::string> out;
    std::istringstream in(log());
    for (std::string line; std::getline(in, line);)
      if (line.find("Violation") != std::string::npos && line.find("User \"" + user + "\"") != std::string::npos)
        out.push_back(line);
    return out;
  }
};

// mcpd as the node user `user`: JetStream on (KV buckets), the fake MCP server as `server`.
std::string node_toml(const std::string& id, const std::string& url, const std::string& user, const std::string& pw,
                      const std::string& server = "fake", int replicas = 1) {
  return "[node]\nid = \"" + id + "\"\n[nats]\nurl = \"" + url + "\"\nuser = \"" + user + "\"\npassword = \"" + pw +
         "\"\n[cluster]\njetstream = \"on\"\nreplicas = " + std::to_string(replicas) + "\n[[servers]]\nname = \"" +
         server + "\"\ncommand = \"" +
         fake_server_path() + "\"\nminSessions = 1\nmaxSessions = 2\n";
}

const std::string kNodeId = "perm-node";

// One nats-server with the shipped permissions.conf, one mcpd on it as the node user, an
// operator and a caller connected.
struct Secured {
  ShippedNats nats{"permissions.conf"};
  std::shared_ptr<bus::Connection> op = nats.connect("operator", password("MCPD_OPERATOR_PASSWORD"), "operator");
  std::shared_ptr<bus::Connection> caller = nats.connect("caller", password("MCPD_CALLER_PASSWORD"), "caller");
  std::unique_ptr<DaemonProcess> node;
  TempDir scratch;  // marker files

  Secured() {
    node = std::make_unique<DaemonProcess>(node_toml(kNodeId, nats.url(), "mcpd", password("MCPD_NODE_PASSWORD")));
    node->wait_serving(*op);
    // Serving comes before JetStream is ready; the node is whole once both buckets are in use.
    bool whole = wait_until([&] {
      const std::string log = node->log();
      return log.find("catalog synchronised with bucket mcp-catalog") != std::string::npos &&
             log.find("session affinity: JetStream bucket mcp-sessions") != std::string::npos;
    }, 30s);
    if (!whole) throw std::runtime_error("mcpd did not open its JetStream buckets; its log:\n" + node->log());
  }
  ~Secured() {
    if (node) {
      node->signal(SIGTERM);
      if (!node->wait_exit(20s)) node->kill();
    }
  }

  // A connection as the node user (what another mcpd node may send).
  std::shared_ptr<bus::Connection> as_node() { return nats.connect("mcpd", password("MCPD_NODE_PASSWORD"), "fake-peer"); }

  // A server record whose "MCP server" is /bin/sh writing `marker` when it starts (minSessions 1:
  // at once when registered).
  Json shell_server(const std::string& name, const std::filesystem::path& marker) const {
    return Json{{"name", name},
                {"command", "/bin/sh"},
                {"args", {"-c", ": > '" + marker.string() + "'"}},
                {"minSessions", 1},
                {"maxSessions", 1}};
  }
  std::filesystem::path marker(const std::string& name) const { return scratch.path() / (name + ".marker"); }

  // The server names in the catalog, as the operator lists them.
  std::vector<std::string> catalog() {
    auto r = op->request("mcp.admin.servers.list", "{}", 5s);
    REQUIRE(r.ok());
    Json j = Json::parse(r.value().data());
    std::vector<std::string> names;
    for (const auto& s : j.at("servers")) names.push_back(s.at("name").get<std::string>());
    std::sort(names.begin(), names.end());
    return names;
  }
  // The control `name` (a shell server writing `control`) runs and the forged one never did:
  // the catalog holds "fake" and the control only.
  void check_control_ran(const std::string& name, const std::filesystem::path& control,
                         const std::filesystem::path& forged) {
    CHECK(wait_until([&] { return std::filesystem::exists(control); }, 20s));
    CHECK_FALSE(std::filesystem::exists(forged));
    const auto got = catalog();  // evaluated outside CHECK: it asserts too
    CHECK(got == std::vector<std::string>{"fake", name});
  }
  bool listed(const std::string& name) {
    auto names = catalog();
    return std::find(names.begin(), names.end(), name) != names.end();
  }

  Json execute(bus::Connection& c, const std::string& server, const Json& body) {
    auto r = c.request("mcp." + server + ".execute", body.dump(), 10s);
    INFO((r.ok() ? std::string(r.value().data()) : r.error().message));
    REQUIRE(r.ok());
    return Json::parse(r.value().data());
  }

  std::string failure_context() { return "--- nats-server:\n" + tail(nats.log(), 40) + "--- mcpd:\n" + tail(node->log(), 40); }
};

const Json kEcho = {{"tool", "echo"}, {"args", {{"message", "hi"}}}};

}  // namespace

TEST_CASE("permissions: the shipped files pass nats-server's config test") {
  for (const char* file : {"permissions.conf", "multi-tenant.conf"}) {
    TempDir out;
    const std::string cmd = "PATH=\"$PATH:/usr/sbin:/usr/local/sbin\" nats-server -t -c '" + (kDeployDir / file).string() + "' > '" +
                            (out.path() / "log").string() + "' 2>&1";
    INFO(file << ": " << read_file(out.path() / "log"));
    CHECK(std::system(cmd.c_str()) == 0);
  }
}

TEST_CASE("permissions: users without the right password are refused") {
  ShippedNats nats("permissions.conf");
  bus::Options o;
  o.servers = {nats.url()};
  o.retry_on_failed_connect = false;
  o.max_reconnect = 0;
  CHECK_FALSE(bus::Connection::connect(o).ok());  // anonymous
  o.user = "caller";
  o.password = "wrong";
  CHECK_FALSE(bus::Connection::connect(o).ok());
  o.password = password("MCPD_OPERATOR_PASSWORD");  // another role's password
  CHECK_FALSE(bus::Connection::connect(o).ok());
  o.password = password("MCPD_CALLER_PASSWORD");
  CHECK(bus::Connection::connect(o).ok());
}

TEST_CASE("permissions: a caller can execute tools and list them") {
  Secured s;
  Json reply = s.execute(*s.caller, "fake", kEcho);
  CHECK(reply.value("result", Json()) == "hi");

  auto tools = s.caller->request("mcp.fake.list-tools", "{}", 10s);
  REQUIRE(tools.ok());
  Json list = Json::parse(tools.value().data());
  REQUIRE(list.at("tools").is_array());
  bool echo = false;
  for (const auto& t : list["tools"]) echo = echo || t.value("name", "") == "echo";
  CHECK(echo);

  // Resources, prompts and completion (1.1) are a caller's too: the fake server offers none, so
  // the node answers (refusing) instead of the caller getting no reply for want of permission.
  for (const char* verb : {"resources.list", "resources.templates", "prompts.list"}) {
    auto r = s.caller->request(std::string("mcp.fake.") + verb, "{}", 10s);
    REQUIRE(r.ok());
    CHECK(Json::parse(r.value().data()).value("code", "") == "invalid_request");
  }

  // A call with a session: its ownership is recorded in mcp-sessions by the node.
  Json with_session = kEcho;
  with_session["session_id"] = "caller-session";
  {
    const auto got = s.execute(*s.caller, "fake", with_session);  // evaluated outside CHECK: it asserts too
    CHECK(got.value("result", Json()) == "hi");
  }
  CHECK(s.nats.violations_of("caller").empty());
  CHECK(s.nats.violations_of("mcpd").empty());
}

TEST_CASE("permissions: a caller cannot publish catalog events") {
  LogCapture logs;  // the caller's connection reports the refusal asynchronously
  Secured s;
  const auto marker = s.marker("evil-event");
  REQUIRE(s.caller->publish("mcp.servers.created", s.shell_server("evil-event", marker).dump()).ok());
  REQUIRE(s.caller->publish("mcp.servers.deleted", Json{{"name", "fake"}}.dump()).ok());
  REQUIRE(s.caller->flush(5s).ok());
  INFO(s.failure_context());
  CHECK(s.nats.wait_refused("Publish", "caller", "mcp.servers.created"));
  CHECK(s.nats.wait_refused("Publish", "caller", "mcp.servers.deleted"));
  // (nats.c reports each refusal with the connection's last error text: that of the last one.)
  CHECK(wait_until([&] { return logs.count("Permissions Violation for Publish to \"mcp.servers.") > 0; }));

  // The same record registered by the operator runs: the payload was a real attack. (Even the
  // node role could not register it by an event: with JetStream an event is only a hint to
  // read the bucket; cluster_catalog_test.cpp shows that.)
  const auto control = s.marker("operator-event");
  auto put = s.op->request("mcp.admin.servers.put", s.shell_server("operator-event", control).dump(), 10s);
  REQUIRE(put.ok());
  s.check_control_ran("operator-event", control, marker);
  {  // not deleted
    const auto got = s.execute(*s.caller, "fake", kEcho);  // evaluated outside CHECK: it asserts too
    CHECK(got.value("result", Json()) == "hi");
  }
}

TEST_CASE("permissions: a caller cannot use the admin API") {
  Secured s;
  const auto marker = s.marker("evil-put");
  auto put = s.caller->request("mcp.admin.servers.put", s.shell_server("evil-put", marker).dump(), 2s);
  CHECK_FALSE(put.ok());  // the request never reached mcpd: no reply
  auto del = s.caller->request("mcp.admin.servers.delete", Json{{"name", "fake"}}.dump(), 2s);
  CHECK_FALSE(del.ok());
  auto list = s.caller->request("mcp.admin.servers.list", "{}", 2s);
  CHECK_FALSE(list.ok());
  INFO(s.failure_context());
  CHECK(s.nats.wait_refused("Publish", "caller", "mcp.admin.servers.put"));
  CHECK(s.nats.wait_refused("Publish", "caller", "mcp.admin.servers.delete"));
  CHECK(s.nats.wait_refused("Publish", "caller", "mcp.admin.servers.list"));

  // The same put from the operator registers it.
  const auto control = s.marker("operator-put");
  auto ok = s.op->request("mcp.admin.servers.put", s.shell_server("operator-put", control).dump(), 10s);
  REQUIRE(ok.ok());
  CHECK(Json::parse(ok.value().data()).contains("server"));
  s.check_control_ran("operator-put", control, marker);
}

TEST_CASE("permissions: a caller cannot send node-to-node traffic") {
  Secured s;
  // A call addressed to the node as if forwarded by another node, and a forged heartbeat.
  auto forwarded = s.caller->request("mcp.nodes." + kNodeId + ".fake.execute", kEcho.dump(), 2s);
  CHECK_FALSE(forwarded.ok());
  REQUIRE(s.caller->publish("mcp.nodes.heartbeat", Json{{"node", "forged"}}.dump()).ok());
  REQUIRE(s.caller->flush(5s).ok());
  INFO(s.failure_context());
  CHECK(s.nats.wait_refused("Publish", "caller", "mcp.nodes." + kNodeId + ".fake.execute"));
  CHECK(s.nats.wait_refused("Publish", "caller", "mcp.nodes.heartbeat"));
  // Nor hand a node an OAuth grant, nor ask for its key.
  CHECK_FALSE(s.caller->request("mcp.nodes." + kNodeId + ".oauth.key", "{}", 2s).ok());
  CHECK(s.nats.wait_refused("Publish", "caller", "mcp.nodes." + kNodeId + ".oauth.key"));

  // The same forwarded call from the node role is answered.
  auto peer = s.as_node();
  auto answered = peer->request("mcp.nodes." + kNodeId + ".fake.execute", kEcho.dump(), 10s);
  REQUIRE(answered.ok());
  CHECK(Json::parse(answered.value().data()).value("result", Json()) == "hi");
}

TEST_CASE("permissions: a caller cannot write or read the JetStream buckets") {
  Secured s;
  const auto marker = s.marker("evil-kv");
  Json record = s.shell_server("evil-kv", marker);
  REQUIRE(s.caller->publish("$KV.mcp-catalog.evil-kv", record.dump()).ok());
  auto info = s.caller->request("$JS.API.STREAM.INFO.KV_mcp-catalog", "", 2s);
  CHECK_FALSE(info.ok());
  auto purge = s.caller->request("$JS.API.STREAM.PURGE.KV_mcp-catalog", "", 2s);
  CHECK_FALSE(purge.ok());
  REQUIRE(s.caller->flush(5s).ok());
  INFO(s.failure_context());
  CHECK(s.nats.wait_refused("Publish", "caller", "$KV.mcp-catalog.evil-kv"));
  CHECK(s.nats.wait_refused("Publish", "caller", "$JS.API.STREAM.INFO.KV_mcp-catalog"));
  CHECK(s.nats.wait_refused("Publish", "caller", "$JS.API.STREAM.PURGE.KV_mcp-catalog"));

  // The same write from the node role: every node's watch applies it and runs the server.
  const auto control = s.marker("node-kv");
  auto peer = s.as_node();
  REQUIRE(peer->publish("$KV.mcp-catalog.node-kv", s.shell_server("node-kv", control).dump()).ok());
  s.check_control_ran("node-kv", control, marker);
}

TEST_CASE("permissions: a caller cannot subscribe to request subjects") {
  LogCapture logs;
  Secured s;
  // Joining mcpd's queue group would take calls (and their arguments) away from mcpd.
  std::atomic<int> stolen{0};
  auto thief = s.caller->subscribe("mcp.fake.execute", "mcpd", [&](bus::Message) { ++stolen; });
  auto snoop = s.caller->subscribe("mcp.>", [&](bus::Message) { ++stolen; });
  REQUIRE(s.caller->flush(5s).ok());
  INFO(s.failure_context());
  CHECK(s.nats.wait_refused("Subscription", "caller", "mcp.fake.execute"));
  CHECK(s.nats.wait_refused("Subscription", "caller", "mcp.>"));
  CHECK(wait_until([&] { return logs.count("Permissions Violation for Subscription to") > 0; }));
  for (int i = 0; i < 10; ++i) {
    const auto got = s.execute(*s.op, "fake", kEcho);
    CHECK(got.value("result", Json()) == "hi");
  }
  CHECK(stolen == 0);
}

TEST_CASE("permissions: an operator registers and removes a server with mcpctl") {
  Secured s;
  const std::string op = s.nats.url_as("operator", password("MCPD_OPERATOR_PASSWORD"));
  const std::string fake = fake_server_path();
  auto add = mcpctl({"--nats", op, "server", "add", "added", "--command", fake, "--min-sessions", "0"});
  INFO(add << "\n" << s.failure_context());
  REQUIRE(add.exit_code == 0);
  CHECK_THAT(add.out, Catch::StartsWith("registered added"));
  {
    const auto got = s.listed("added");  // evaluated outside CHECK: it asserts too
    CHECK(got);
  }

  auto call = mcpctl({"--nats", op, "call", "added", "echo", "--args", R"({"message":"from operator"})"});
  INFO(call);
  CHECK(call.exit_code == 0);
  CHECK(call.out == "from operator\n");
  auto tools = mcpctl({"--nats", op, "tools", "added"});
  INFO(tools);
  CHECK(tools.exit_code == 0);
  CHECK_THAT(tools.out, Catch::Contains("echo"));
  // A caller can use what the operator registered.
  {
    const auto got = s.execute(*s.caller, "added", kEcho);  // evaluated outside CHECK: it asserts too
    CHECK(got.value("result", Json()) == "hi");
  }

  auto nodes = mcpctl({"--nats", op, "nodes"});  // $SRV.STATS.mcpd
  INFO(nodes);
  CHECK(nodes.exit_code == 0);
  CHECK_THAT(nodes.out, Catch::Contains(kNodeId));

  auto rm = mcpctl({"--nats", op, "server", "rm", "added"});
  INFO(rm);
  CHECK(rm.exit_code == 0);
  {
    const auto got = s.listed("added");  // evaluated outside CHECK: it asserts too
    CHECK_FALSE(got);
  }

  // An OAuth grant handed to the node (sealed to its key) under the operator role; the node
  // subjects the operator may not use stay closed to it.
  const auto grant = s.scratch.path() / "grant.json";
  std::ofstream(grant) << R"({"accessToken": "at-operator"})";
  auto handover = mcpctl({"--nats", op, "auth", "handover", "crm", "--grant-file", grant.string()});
  INFO(handover);
  CHECK(handover.exit_code == 0);
  CHECK(std::filesystem::exists(s.node->dir() / "oauth" / "crm.json"));
  CHECK_FALSE(s.op->request("mcp.nodes." + kNodeId + ".fake.execute", kEcho.dump(), 2s).ok());
  CHECK(s.nats.wait_refused("Publish", "operator", "mcp.nodes." + kNodeId + ".fake.execute"));
  CHECK_FALSE(s.op->request("mcp.nodes." + kNodeId + ".tasks.cancel", "{}", 2s).ok());
  CHECK_FALSE(s.op->request("mcp.nodes.execute", kEcho.dump(), 2s).ok());

  // mcpctl with the caller's credentials gets nowhere with the admin API.
  const std::string caller = s.nats.url_as("caller", password("MCPD_CALLER_PASSWORD"));
  auto refused = mcpctl({"--nats", caller, "--timeout", "1000", "server", "add", "sneaky", "--command", fake});
  INFO(refused);
  CHECK(refused.exit_code == 1);
  CHECK(s.nats.wait_refused("Publish", "caller", "mcp.admin.servers.put"));
  {
    const auto got = s.listed("sneaky");  // evaluated outside CHECK: it asserts too
    CHECK_FALSE(got);
  }
  for (const auto& v : s.nats.violations_of("operator")) {  // only the node subjects tried above
    INFO(v);
    CHECK(v.find("mcp.nodes.") != std::string::npos);
    CHECK(v.find("oauth") == std::string::npos);
  }
}

TEST_CASE("permissions: the node works fully under the node role") {
  Secured s;
  INFO(s.failure_context());
  // Calls, sessions (mcp-sessions), registration and removal (mcp-catalog, events), discovery.
  {
    const auto got = s.execute(*s.caller, "fake", kEcho);  // evaluated outside CHECK: it asserts too
    CHECK(got.value("result", Json()) == "hi");
  }
  Json with_session = kEcho;
  with_session["session_id"] = "node-role-session";
  {
    const auto got = s.execute(*s.caller, "fake", with_session);  // evaluated outside CHECK: it asserts too
    CHECK(got.value("result", Json()) == "hi");
  }
  auto put = s.op->request("mcp.admin.servers.put",
                           Json{{"name", "second"}, {"command", fake_server_path()}, {"minSessions", 1}}.dump(), 10s);
  REQUIRE(put.ok());
  {
    const auto got = s.execute(*s.caller, "second", kEcho);  // evaluated outside CHECK: it asserts too
    CHECK(got.value("result", Json()) == "hi");
  }
  auto get = s.op->request("mcp.admin.servers.get", Json{{"name", "second"}}.dump(), 10s);
  REQUIRE(get.ok());
  CHECK(Json::parse(get.value().data()).contains("server"));
  auto del = s.op->request("mcp.admin.servers.delete", Json{{"name", "second"}}.dump(), 10s);
  REQUIRE(del.ok());
  {
    const auto got = s.catalog();  // evaluated outside CHECK: it asserts too
    CHECK(got == std::vector<std::string>{"fake"});
  }
  auto stats = s.op->request("$SRV.STATS.mcpd." + kNodeId, "", 5s);
  CHECK(stats.ok());
  auto ping = s.op->request("$SRV.PING", "", 5s);
  CHECK(ping.ok());

  // A clean stop: session ownerships released in mcp-sessions, the watch stopped, exit 0.
  s.node->signal(SIGTERM);
  CHECK(s.node->wait_exit(30s) == std::optional<int>(0));
  const std::string log = s.node->log();
  CHECK(log.find("Permissions Violation") == std::string::npos);
  CHECK(log.find("Authorization Violation") == std::string::npos);
  CHECK(log.find("released 1 session ownerships") != std::string::npos);
  CHECK(s.nats.violations_of("mcpd").empty());
}

TEST_CASE("permissions: tenants of multi-tenant.conf reach only their own mcpd") {
  ShippedNats nats("multi-tenant.conf");
  auto a_op = nats.connect("tenant-a-operator", password("TENANT_A_OPERATOR_PASSWORD"), "a-operator");
  auto b_op = nats.connect("tenant-b-operator", password("TENANT_B_OPERATOR_PASSWORD"), "b-operator");
  auto a_caller = nats.connect("tenant-a-caller", password("TENANT_A_CALLER_PASSWORD"), "a-caller");
  auto b_caller = nats.connect("tenant-b-caller", password("TENANT_B_CALLER_PASSWORD"), "b-caller");
  // The same subjects and bucket names in both accounts; tenant A serves "only-a", B "only-b".
  DaemonProcess a(node_toml("tenant-a-node", nats.url(), "tenant-a-mcpd", password("TENANT_A_NODE_PASSWORD"), "only-a"));
  DaemonProcess b(node_toml("tenant-b-node", nats.url(), "tenant-b-mcpd", password("TENANT_B_NODE_PASSWORD"), "only-b"));
  a.wait_serving(*a_op);
  b.wait_serving(*b_op);
  INFO("--- nats-server:\n" << tail(nats.log(), 30) << "--- mcpd A:\n" << tail(a.log(), 20) << "--- mcpd B:\n"
                            << tail(b.log(), 20));
  for (auto* d : {&a, &b})
    CHECK(wait_until([&] { return d->log().find("catalog synchronised with bucket mcp-catalog") != std::string::npos; },
                     30s));

  auto a_call = a_caller->request("mcp.only-a.execute", kEcho.dump(), 10s);
  REQUIRE(a_call.ok());
  CHECK(Json::parse(a_call.value().data()).value("result", Json()) == "hi");
  auto b_call = b_caller->request("mcp.only-b.execute", kEcho.dump(), 10s);
  REQUIRE(b_call.ok());
  CHECK(Json::parse(b_call.value().data()).value("result", Json()) == "hi");

  // Across tenants: each tenant's own mcpd answers (it serves every mcp.> subject of its
  // account) that it has no such server; the other tenant's server is out of reach.
  for (auto [c, server] : {std::pair{a_caller.get(), "only-b"}, std::pair{b_caller.get(), "only-a"}}) {
    auto cross = c->request("mcp." + std::string(server) + ".execute", kEcho.dump(), 10s);
    REQUIRE(cross.ok());
    Json j = Json::parse(cross.value().data());
    INFO(j.dump());
    CHECK_FALSE(j.contains("result"));
    CHECK(j.contains("error"));
  }
  // Each operator sees its own catalog only (its own mcp-catalog bucket).
  auto names = [](bus::Connection& c) {
    auto r = c.request("mcp.admin.servers.list", "{}", 5s);
    REQUIRE(r.ok());
    std::vector<std::string> out;
    const Json j = Json::parse(r.value().data());
    for (const auto& s : j.at("servers")) out.push_back(s.at("name").get<std::string>());
    return out;
  };
  const auto a_names = names(*a_op), b_names = names(*b_op);
  CHECK(a_names == std::vector<std::string>{"only-a"});
  CHECK(b_names == std::vector<std::string>{"only-b"});

  // With no mcpd of its own, a tenant's callers find nobody at all.
  b.signal(SIGTERM);
  CHECK(b.wait_exit(30s) == std::optional<int>(0));
  auto none = b_caller->request("mcp.only-a.execute", kEcho.dump(), 5s);
  REQUIRE_FALSE(none.ok());
  CHECK_THAT(none.error().message, Catch::Contains("no responders"));
  CHECK(a_caller->request("mcp.only-a.execute", kEcho.dump(), 10s).ok());

  // The roles hold inside an account too: a tenant's caller cannot use its admin API.
  CHECK_FALSE(a_caller->request("mcp.admin.servers.list", "{}", 1s).ok());
  CHECK(nats.wait_refused("Publish", "tenant-a-caller", "mcp.admin.servers.list"));

  a.signal(SIGTERM);
  CHECK(a.wait_exit(30s) == std::optional<int>(0));
  CHECK(nats.violations_of("tenant-a-mcpd").empty());
  CHECK(nats.violations_of("tenant-b-mcpd").empty());
}

namespace {

// Three clustered nats-servers, each running the shipped permissions.conf with a server name
// and a cluster block appended (support/cluster.hpp's TestCluster writes configs without users),
// and three mcpd nodes as the node user with replicated (R3) buckets.
struct SecuredCluster {
  static constexpr int kSize = 3;
  std::array<TempDir, kSize> dirs;
  std::array<std::unique_ptr<NatsServer>, kSize> nats;
  std::array<std::unique_ptr<DaemonProcess>, kSize> nodes;

  SecuredCluster() {
    std::string shipped = read_file(kDeployDir / "permissions.conf");
    auto at = shipped.find(kStoreDirLine);
    if (at == std::string::npos) throw std::runtime_error("no " + kStoreDirLine + " in permissions.conf");
    std::array<int, kSize> routes{};
    for (int i = 0; i < kSize; ++i) {
      NatsServerOptions o = NatsServerOptions::not_started();
      o.extra_args = {"-c", (dirs[i].path() / "nats.conf").string()};
      nats[i] = std::make_unique<NatsServer>(o);
    }
    for (int i = 0; i < kSize; ++i)
      for (;;) {
        int p = free_loopback_port();
        bool clash = false;
        for (int j = 0; j < kSize; ++j) clash = clash || p == nats[j]->port() || p == routes[j];
        if (!clash) {
          routes[i] = p;
          break;
        }
      }
    for (int i = 0; i < kSize; ++i) {
      std::string conf = shipped;
      conf.replace(at, kStoreDirLine.size(), "store_dir: \"" + (dirs[i].path() / "jetstream").string() + "\"");
      conf += "\nserver_name: perm-n" + std::to_string(i + 1) + "\ncluster {\n  name: perm\n  listen: 127.0.0.1:" +
              std::to_string(routes[i]) + "\n  routes: [\n";
      for (int j = 0; j < kSize; ++j)
        if (j != i) conf += "    nats-route://127.0.0.1:" + std::to_string(routes[j]) + "\n";
      conf += "  ]\n}\n";
      std::ofstream(dirs[i].path() / "nats.conf") << conf;
    }
    for (auto& s : nats) s->start(30s);
    for (int i = 0; i < kSize; ++i) {
      std::string urls = nats[i]->url();
      for (int j = 0; j < kSize; ++j)
        if (j != i) urls += "," + nats[j]->url();
      nodes[i] = std::make_unique<DaemonProcess>(
          node_toml("perm-node-" + std::to_string(i + 1), urls, "mcpd", password("MCPD_NODE_PASSWORD"), "fake", 3));
    }
  }
  ~SecuredCluster() {
    for (auto& n : nodes)
      if (n) n->signal(SIGTERM);
    for (auto& n : nodes)
      if (n && !n->wait_exit(20s)) n->kill();
  }

  std::shared_ptr<bus::Connection> connect(int i, const std::string& user, const std::string& pw) {
    bus::Options o;
    o.servers = {nats[i]->url()};
    o.name = user + "-" + std::to_string(i);
    o.user = user;
    o.password = pw;
    o.retry_on_failed_connect = false;
    auto c = bus::Connection::connect(o);
    if (!c.ok()) throw std::runtime_error(user + " cannot connect: " + c.error().message);
    return c.value();
  }

  std::string logs() {
    std::string out;
    for (int i = 0; i < kSize; ++i)
      out += "--- mcpd " + std::to_string(i + 1) + ":\n" + tail(nodes[i]->log(), 25) + "--- nats-server " +
             std::to_string(i + 1) + ":\n" + tail(nats[i]->log(), 15);
    return out;
  }
  std::vector<std::string> node_violations() {
    std::vector<std::string> out;
    for (auto& s : nats) {
      std::istringstream in(s->log());
      for (std::string line; std::getline(in, line);)
        if (line.find("Violation") != std::string::npos && line.find("User \"mcpd\"") != std::string::npos)
          out.push_back(line);
    }
    for (auto& n : nodes)
      if (n->log().find("Permissions Violation") != std::string::npos) out.push_back("in an mcpd log");
    return out;
  }
};

}  // namespace

TEST_CASE("permissions: a 3-node cluster works under the node role") {
  SecuredCluster c;
  std::array<std::shared_ptr<bus::Connection>, SecuredCluster::kSize> callers, ops;
  for (int i = 0; i < SecuredCluster::kSize; ++i) {
    callers[i] = c.connect(i, "caller", password("MCPD_CALLER_PASSWORD"));
    ops[i] = c.connect(i, "operator", password("MCPD_OPERATOR_PASSWORD"));
  }
  for (int i = 0; i < SecuredCluster::kSize; ++i) {
    const std::string id = "perm-node-" + std::to_string(i + 1);
    bool up = wait_until([&] {
      return c.nodes[i]->log().find("session affinity: JetStream bucket mcp-sessions") != std::string::npos &&
             ops[0]->request("$SRV.PING.mcpd." + id, "", 500ms).ok();
    }, 60s, 50ms);
    INFO(c.logs());
    REQUIRE(up);
  }
  INFO(c.logs());
  // One session used from every nats-server: the queue group hands the calls to any node, the
  // others forward them to the owner (mcp.nodes.<owner>.fake.execute), so one process answers all.
  const std::string sid = "cluster-session";
  std::set<std::string> pids;
  for (int k = 0; k < 12; ++k) {
    auto r = callers[k % 3]->request("mcp.fake.execute", Json{{"tool", "pid"}, {"session_id", sid}}.dump(), 10s);
    REQUIRE(r.ok());
    Json j = Json::parse(r.value().data());
    CHECK_FALSE(j.contains("session_reset"));
    pids.insert(j.value("result", std::string()));
  }
  CHECK(pids.size() == 1);
  // A server registered on one node reaches every node (R3 catalog, events).
  auto put = ops[1]->request("mcp.admin.servers.put",
                             Json{{"name", "shared"}, {"command", fake_server_path()}, {"minSessions", 1}}.dump(), 10s);
  REQUIRE(put.ok());
  for (int i = 0; i < SecuredCluster::kSize; ++i)
    CHECK(wait_until([&] { return c.nodes[i]->log().find("[shared] session ready") != std::string::npos; }, 20s));
  for (int k = 0; k < 6; ++k) {
    auto r = callers[k % 3]->request("mcp.shared.execute", kEcho.dump(), 10s);
    REQUIRE(r.ok());
    CHECK(Json::parse(r.value().data()).value("result", Json()) == "hi");
  }
  auto nodes = mcpctl({"--nats", "nats://operator:" + password("MCPD_OPERATOR_PASSWORD") + "@127.0.0.1:" +
                                     std::to_string(c.nats[2]->port()),
                       "nodes"});
  INFO(nodes);
  CHECK(nodes.exit_code == 0);
  for (int i = 1; i <= 3; ++i) CHECK_THAT(nodes.out, Catch::Contains("perm-node-" + std::to_string(i)));
  for (int i = 0; i < SecuredCluster::kSize; ++i) c.nodes[i]->signal(SIGTERM);
  for (int i = 0; i < SecuredCluster::kSize; ++i) CHECK(c.nodes[i]->wait_exit(30s) == std::optional<int>(0));
  CHECK(c.node_violations().empty());
}
