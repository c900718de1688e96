// mcpctl end to end: the real mcpctl binary against a real nats-server and the real mcpd binary
// (with the native fake MCP server registered as "fake"). Each command's stdout, stderr and exit
// status are checked as a person or a script would see them: 0 done, 1 the request failed,
// 2 the command line is wrong.
#include "support/mcpctl_fixture.hpp"
#include "support/mcpctl_process.hpp"
#include "support/nats_server.hpp"
#include "support/test_support.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <sstream>

using namespace mcpd;
using namespace mcpd::test;
using Json = nlohmann::json;

namespace {

// One mcpd node, answering its admin API.
struct Cluster : McpdNodes {
  Cluster() : McpdNodes("mcpctl-test", {"mcpctl-test"}) { nodes[0]->wait_serving(*client); }
};

// The lines of `text` whose first column is `name`.
bool has_row(const std::string& text, const std::string& name) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(name + " ", 0) == 0) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("mcpctl server add ls show and rm manage a server") {
  Cluster c;
  const std::string fake = fake_server_path();
  auto add = c.run({"server", "add", "added", "--command", fake, "--min-sessions", "0", "--max-sessions", "2",
                    "--env", "GREETING=hello", "--description", "added by the mcpctl test"});
  INFO(add);
  REQUIRE(add.exit_code == 0);
  CHECK_THAT(add.out, Catch::StartsWith("registered added (revision "));

  auto ls = c.run({"server", "ls"});
  INFO(ls);
  REQUIRE(ls.exit_code == 0);
  CHECK_THAT(ls.out, Catch::StartsWith("NAME "));
  CHECK(has_row(ls.out, "added"));
  CHECK(has_row(ls.out, "fake"));

  auto show = c.run({"server", "show", "added"});
  INFO(show);
  REQUIRE(show.exit_code == 0);
  CHECK_THAT(show.out, Catch::Contains("command:") && Catch::Contains(fake));
  CHECK_THAT(show.out, Catch::Contains("added by the mcpctl test"));
  CHECK_THAT(show.out, Catch::Contains("GREETING"));

  auto json = c.run({"server", "show", "added", "--json"});
  INFO(json);
  Json doc = json_out(json);
  REQUIRE_FALSE(doc.is_discarded());
  CHECK(doc["server"]["name"] == "added");
  CHECK(doc["server"]["command"] == fake);
  CHECK(doc["server"]["minSessions"] == 0);
  CHECK(doc["server"]["maxSessions"] == 2);
  CHECK(doc["server"]["env"]["GREETING"] == "hello");

  // The registered server really runs.
  auto call = c.run({"call", "added", "echo", "--args", R"({"message":"from added"})"});
  INFO(call);
  CHECK(call.exit_code == 0);
  CHECK(call.out == "from added\n");

  auto rm = c.run({"server", "rm", "added"});
  INFO(rm);
  REQUIRE(rm.exit_code == 0);
  CHECK(rm.out == "deleted added\n");
  auto ls_after = c.run({"server", "ls"});
  INFO(ls_after);
  REQUIRE(ls_after.exit_code == 0);
  CHECK_FALSE(has_row(ls_after.out, "added"));
  CHECK(has_row(ls_after.out, "fake"));

  CHECK_THAT(c.run({"server", "show", "added"}), ExitsWith(1).err(Catch::Contains("no MCP server named 'added'")));
}

TEST_CASE("mcpctl server ls --json lists the full records") {
  Cluster c;
  auto ls = c.run({"--json", "server", "ls"});
  INFO(ls);
  Json doc = json_out(ls);
  REQUIRE(doc.is_object());
  REQUIRE(doc["servers"].is_array());
  REQUIRE(doc["servers"].size() == 1);
  CHECK(doc["servers"][0]["name"] == "fake");
  CHECK(doc["servers"][0]["command"] == fake_server_path());
}

TEST_CASE("mcpctl tools lists the tools of a server as text and as JSON") {
  Cluster c;
  auto tools = c.run({"tools", "fake"});
  INFO(tools);
  REQUIRE(tools.exit_code == 0);
  CHECK(has_row(tools.out, "echo"));
  CHECK(has_row(tools.out, "add"));
  CHECK_THAT(tools.out, Catch::Contains("Echo the message back"));

  auto json = c.run({"tools", "fake", "--json"});
  INFO(json);
  Json doc = json_out(json);
  REQUIRE(doc["tools"].is_array());
  bool echo = false;
  for (auto& t : doc["tools"]) {
    if (t["name"] == "echo") echo = t["inputSchema"].is_object();
  }
  CHECK(echo);
}

TEST_CASE("mcpctl call prints a text result as it is and --json prints the reply") {
  Cluster c;
  auto text = c.run({"call", "fake", "echo", "--args", R"({"message":"hi"})"});
  INFO(text);
  REQUIRE(text.exit_code == 0);
  CHECK(text.out == "hi\n");
  CHECK(text.err.empty());

  auto json = c.run({"call", "fake", "echo", "--args", R"({"message":"hi"})", "--json"});
  INFO(json);
  Json doc = json_out(json);
  REQUIRE(doc.is_object());
  CHECK(doc["result"] == "hi");

  // A structured result (structuredContent) is printed as JSON.
  auto sum = c.run({"call", "fake", "add", "--args", R"({"a":2,"b":3})"});
  INFO(sum);
  Json sum_doc = json_out(sum);
  REQUIRE(sum_doc.is_object());
  CHECK(sum_doc["sum"] == 5);
}

TEST_CASE("mcpctl call reports a tool error an unknown tool and an unknown server with exit 1") {
  Cluster c;
  CHECK_THAT(c.run({"call", "fake", "fail"}),
             ExitsWith(1)
                 .err(Catch::Contains("tool_error") && Catch::Contains("tool failed on purpose"))
                 .out(Catch::Equals("")));
  CHECK_THAT(c.run({"call", "fake", "no_such_tool"}),
             ExitsWith(1).err(Catch::Contains("unknown_tool") && Catch::Contains("no_such_tool")));
  CHECK_THAT(c.run({"call", "nosuch", "echo", "--args", R"({"message":"hi"})"}),
             ExitsWith(1).err(Catch::Contains("invalid_request") && Catch::Contains("no MCP server named 'nosuch'")));
  CHECK_THAT(c.run({"tools", "nosuch"}), ExitsWith(1).err(Catch::Contains("no MCP server named 'nosuch'")));
  CHECK_THAT(c.run({"server", "rm", "nosuch"}), ExitsWith(1).err(Catch::Contains("nosuch")));
}

TEST_CASE("mcpctl refuses a wrong command line with exit 2") {
  Cluster c;
  CHECK_THAT(c.run({"call", "fake", "echo", "--args", "{bad"}),
             ExitsWith(2).err(Catch::Contains("--args is not valid JSON")));
  CHECK_THAT(c.run({"call", "fake", "echo", "--args", "[1]"}),
             ExitsWith(2).err(Catch::Contains("--args must be a JSON object")));
  CHECK_THAT(c.run({"call", "fake"}), ExitsWith(2));
  CHECK_THAT(c.run({"frobnicate"}), ExitsWith(2));

  // Neither --command nor --url: a usage error, refused before anything is sent.
  CHECK_THAT(c.run({"server", "add", "x"}), ExitsWith(2).err(Catch::Contains("needs --command CMD")));

  // Nothing reached the catalog.
  auto ls = c.run({"server", "ls"});
  INFO(ls);
  CHECK_FALSE(has_row(ls.out, "x"));
}

TEST_CASE("mcpctl says cannot connect and exits 1 when nothing listens at the NATS URL") {
  int port = free_loopback_port();  // free a moment ago: nothing listens there
  auto r = mcpctl({"--nats", "nats://127.0.0.1:" + std::to_string(port), "server", "ls"});
  CHECK_THAT(r, ExitsWith(1).err(Catch::Contains("cannot connect")).out(Catch::Equals("")));
  CHECK(r.took < 10s);  // a refused connection is not worth a long wait
}

TEST_CASE("mcpctl says no mcpd is serving and exits 1 when NATS is up without mcpd") {
  NatsServer nats;
  CHECK_THAT(mcpctl({"--nats", nats.url(), "--timeout", "2000", "server", "ls"}),
             ExitsWith(1).err(Catch::Contains("no mcpd is serving")));
}
