// OAuth grants handed to nodes over NATS (mcpctl auth handover / auth login): every live node
// gets its own copy sealed to its own key and stores it beside its catalog (0600); nothing
// readable crosses the bus; a grant sealed for another node or server, a changed one and a
// plain one are refused with the reason.
#include "auth/handover.hpp"
#include "auth/sealed_grant.hpp"
#include "node/subjects.hpp"
#include "support/mcpctl_fixture.hpp"

#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>

using namespace mcpd;
using namespace mcpd::test;
using Json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

struct Nodes : McpdNodes {
  Nodes() : McpdNodes("handover-test", {"node-a", "node-b"}) {
    for (auto& n : nodes) n->wait_serving(*client);
  }
  fs::path grant_file(std::size_t node, const std::string& server) const { return nodes[node]->dir() / "oauth" / (server + ".json"); }
  Json request(const std::string& subject, const Json& body) {
    auto r = client->request(subject, body.dump(), 10s);
    REQUIRE(r.ok());
    return Json::parse(r.value().data());
  }
};

unsigned mode_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode & 0777;
}

std::string read_all(const fs::path& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A grant sealed as an mcpctl before sealing times would have sealed it.
auth::Sealed plain_sealed(const Json& key, const std::string& text) {
  return auth::seal(key["public_key"].get<std::string>(), text, auth::grant_context("node-a", "crm")).value();
}

}  // namespace

TEST_CASE("mcpctl auth handover gives every live node the grant sealed to its own key") {
  Nodes c;
  TempDir dir;
  const fs::path grant = dir.path() / "crm.json";
  std::ofstream(grant) << R"({"accessToken": "at-canary-7f3e", "refreshToken": "rt-canary-91ab", "expiresAt": 0,
                              "clientId": "mcpd-prod", "tokenEndpoint": "https://auth.example.com/token"})";
  // Everything on the bus while the grant travels: no token may be readable in it.
  std::mutex mu;
  std::string seen;
  auto tap = c.client->subscribe(">", [&](const bus::Message& m) {
    std::lock_guard lock(mu);
    seen.append(m.data()).append("\n");
  });
  REQUIRE(tap.ok());

  auto run = c.run({"auth", "handover", "crm", "--grant-file", grant.string()});
  CHECK_THAT(run, ExitsWith(0).err(Catch::Contains("node node-a: grant for 'crm' stored") &&
                                   Catch::Contains("node node-b: grant for 'crm' stored")));
  for (std::size_t i = 0; i < 2; ++i) {
    INFO("node " << i);
    REQUIRE(fs::exists(c.grant_file(i, "crm")));
    CHECK(mode_of(c.grant_file(i, "crm")) == 0600);
    CHECK(mode_of(c.grant_file(i, "crm").parent_path()) == 0700);
    CHECK(mode_of(c.grant_file(i, "crm").parent_path() / "node.key") == 0600);
    Json stored = Json::parse(read_all(c.grant_file(i, "crm")));
    CHECK(stored["accessToken"] == "at-canary-7f3e");
    CHECK(stored["refreshToken"] == "rt-canary-91ab");
    CHECK(stored["clientId"] == "mcpd-prod");
  }
  {
    std::lock_guard lock(mu);
    CHECK(seen.find("public_key") != std::string::npos);  // the tap saw the hand-over
    CHECK(seen.find("canary") == std::string::npos);
  }

  // --node: only that node's copy changes.
  std::ofstream(grant, std::ios::trunc) << R"({"accessToken": "at-second"})";
  CHECK_THAT(c.run({"auth", "handover", "crm", "--grant-file", grant.string(), "--node", "node-b"}),
             ExitsWith(0).err(Catch::Contains("node node-b") && !Catch::Contains("node-a")));
  CHECK(Json::parse(read_all(c.grant_file(0, "crm")))["accessToken"] == "at-canary-7f3e");
  CHECK(Json::parse(read_all(c.grant_file(1, "crm")))["accessToken"] == "at-second");

  // A node that is not there: said, exit 1, the others still served.
  CHECK_THAT(c.run({"auth", "handover", "crm", "--grant-file", grant.string(), "--node", "node-a", "--node", "node-z"}),
             ExitsWith(1).err(Catch::Contains("node node-a: grant for 'crm' stored") &&
                              Catch::Contains("node node-z: not handed over: no such live node (live: node-a, node-b)")));
  CHECK_THAT(c.run({"auth", "handover", "crm", "--grant-file", (dir.path() / "none.json").string()}),
             ExitsWith(1).err(Catch::Contains("no grant file")));
  CHECK_THAT(c.run({"auth", "handover", "crm"}), ExitsWith(2).err(Catch::Contains("--grant-file")));
}

TEST_CASE("a node refuses a grant sealed for another node or server - changed - sent plain - or handed over again") {
  Nodes c;
  node::Subjects s;
  Json key_a = c.request(s.node_oauth("node-a", "key"), Json::object());
  REQUIRE(key_a["scheme"] == std::string(auth::kSealScheme));
  Json key_b = c.request(s.node_oauth("node-b", "key"), Json::object());
  CHECK(key_a["public_key"] != key_b["public_key"]);
  CHECK(c.request(s.node_oauth("node-a", "key"), Json::object())["public_key"] == key_a["public_key"]);  // kept

  const auto now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  auth::Grant g;
  g.access_token = "at-x";
  const std::string grant = auth::sealed_grant_text(g, now_ms);
  auto sealed = auth::seal(key_a["public_key"].get<std::string>(), grant, auth::grant_context("node-a", "crm")).value();
  auto body = [&](const std::string& server, const auth::Sealed& x) {
    return Json{{"server", server}, {"epk", x.epk}, {"nonce", x.nonce}, {"ciphertext", x.ciphertext}};
  };
  // Sent to node-b, or to node-a for another server: does not open.
  for (const auto& [node, server] : {std::pair{"node-b", "crm"}, std::pair{"node-a", "billing"}}) {
    Json r = c.request(s.node_oauth(node, "grant"), body(server, sealed));
    CHECK(r["code"] == "invalid_request");
    CHECK_THAT(r["error"].get<std::string>(), Catch::Contains("does not open"));
  }
  auto changed = sealed;
  changed.ciphertext[3] = changed.ciphertext[3] == 'A' ? 'B' : 'A';
  CHECK(c.request(s.node_oauth("node-a", "grant"), body("crm", changed))["code"] == "invalid_request");
  Json plain = c.request(s.node_oauth("node-a", "grant"), {{"server", "crm"}, {"accessToken", "at-plain"}});
  CHECK(plain["code"] == "invalid_request");
  Json bad_name = c.request(s.node_oauth("node-a", "grant"), body("Not A Name", sealed));
  CHECK(bad_name["code"] == "invalid_request");
  CHECK_FALSE(fs::exists(c.grant_file(0, "crm")));
  CHECK_FALSE(fs::exists(c.grant_file(1, "crm")));
  // Sealed with no token in it: refused too.
  auto empty = auth::seal(key_a["public_key"].get<std::string>(), auth::sealed_grant_text(auth::Grant{}, now_ms),
                          auth::grant_context("node-a", "crm"))
                   .value();
  const std::string empty_error = c.request(s.node_oauth("node-a", "grant"), body("crm", empty))["error"];
  CHECK_THAT(empty_error, Catch::Contains("neither an access nor a refresh token"));
  // The right one is stored, and answered without any token in the reply.
  Json ok = c.request(s.node_oauth("node-a", "grant"), body("crm", sealed));
  CHECK(ok == Json{{"node", "node-a"}, {"server", "crm"}, {"stored", true}, {"refresh_token", false}});
  CHECK(fs::exists(c.grant_file(0, "crm")));
  // A hand-over is taken once: the same one sent again, or one sealed before it, is refused and
  // the grant stored stays; a later one replaces it.
  auto seal_at = [&](const std::string& token, std::int64_t at) {
    auth::Grant x;
    x.access_token = token;
    return auth::seal(key_a["public_key"].get<std::string>(), auth::sealed_grant_text(x, at),
                      auth::grant_context("node-a", "crm"))
        .value();
  };
  CHECK_THAT(c.request(s.node_oauth("node-a", "grant"), body("crm", sealed))["error"].get<std::string>(),
             Catch::Contains("a hand-over is taken once"));
  CHECK(c.request(s.node_oauth("node-a", "grant"), body("crm", seal_at("at-older", now_ms - 5000)))["code"] ==
        "invalid_request");
  CHECK_THAT(c.request(s.node_oauth("node-a", "grant"), body("crm", seal_at("at-stale", now_ms - 3'600'000)))["error"]
                 .get<std::string>(),
             Catch::Contains("s ago, more than the 10 minutes"));  // 3600 s, or 3601 on a slow machine
  CHECK_THAT(c.request(s.node_oauth("node-a", "grant"), body("crm", plain_sealed(key_a, R"({"accessToken":"at-y"})")))["error"]
                 .get<std::string>(),
             Catch::Contains("no sealedAt"));
  CHECK(Json::parse(read_all(c.grant_file(0, "crm")))["accessToken"] == "at-x");
  auto newer = seal_at("at-newer", now_ms + 1);
  CHECK(c.request(s.node_oauth("node-a", "grant"), body("crm", newer))["stored"] == true);
  CHECK(Json::parse(read_all(c.grant_file(0, "crm")))["accessToken"] == "at-newer");

  // Restarted, the node still refuses a hand-over it has taken (it keeps the last sealing time).
  c.nodes[0]->signal(SIGTERM);
  REQUIRE(c.nodes[0]->wait_exit(20s).has_value());
  c.nodes[0]->start();
  REQUIRE(wait_until([&] { return c.client->request(s.node_oauth("node-a", "key"), "{}", 500ms).ok(); }, 20s));
  CHECK(mode_of(c.grant_file(0, "crm").parent_path() / "crm.sealed-at") == 0600);
  for (const auto* again : {&newer, &sealed}) {
    Json r = c.request(s.node_oauth("node-a", "grant"), body("crm", *again));
    CHECK_THAT(r["error"].get<std::string>(), Catch::Contains("a hand-over is taken once"));
  }
  CHECK(Json::parse(read_all(c.grant_file(0, "crm")))["accessToken"] == "at-newer");
  CHECK(c.request(s.node_oauth("node-a", "grant"), body("crm", seal_at("at-after-restart", now_ms + 2)))["stored"] == true);
}

TEST_CASE("mcpctl auth login names the client secret variable it lacks and takes --client-secret-env instead") {
  Nodes c;
  ::unsetenv("MCPD_SECRET_TEST_UNSET");
  auto put = c.request("mcp.admin.servers.put",
                       {{"name", "crm"},
                        {"url", "http://127.0.0.1:9/mcp"},
                        {"transport", "http"},
                        {"auth", {{"type", "oauth"}, {"clientId", "mcpd-prod"}, {"clientSecretEnv", "MCPD_SECRET_TEST_UNSET"}}}});
  INFO(put.dump());
  REQUIRE(put.contains("server"));
  CHECK_THAT(c.run({"auth", "login", "crm"}),
             ExitsWith(1).err(Catch::Contains("MCPD_SECRET_TEST_UNSET, which is not set here") &&
                              Catch::Contains("--client-secret-env")));
  // Another variable named on the command line is used instead (and checked in its turn).
  CHECK_THAT(c.run({"auth", "login", "crm", "--client-secret-env", "MCPD_TEST_OTHER_UNSET"}),
             ExitsWith(2).err(Catch::Contains("MCPD_TEST_OTHER_UNSET is not set")));
}
