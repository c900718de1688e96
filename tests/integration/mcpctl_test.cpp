// mcpctl end to end: the real mcpctl binary against a real nats-server and the real mcpd binary
// (with the native fake MCP server registered as "fake"). Each command's stdout, stderr and exit
// status are checked as a person or a script would see them: 0 done, 1 the request failed,
// 2 the command line is wrong.
#include "support/mcpctl_fixture.hpp"
#include "support/mcpctl_process.hpp"
#include "support/nats_server.hpp"
#include "support/test_support.hpp"

#include <catch2/catch.hpp>

#include <cstdio>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <filesystem>
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

TEST_CASE("mcpctl server ls follows the pages of a catalog larger than one NATS message") {
  Cluster c;
  // 60 disabled servers of about 20 KB each: 1.2 MB, more than a 1 MiB NATS message.
  const std::string about(20'000, 'd');
  for (int i = 0; i < 60; ++i) {
    char name[16];
    std::snprintf(name, sizeof name, "bulk-%02d", i);
    Json server = {{"name", name}, {"command", fake_server_path()}, {"enabled", false}, {"description", about}};
    auto r = c.client->request("mcp.admin.servers.put", server.dump(), 10s);
    REQUIRE(r.ok());
    REQUIRE(Json::parse(r.value().data()).contains("server"));
  }
  // The subject pages by itself: {} gets what fits and a cursor; limit bounds a page.
  auto first = c.client->request("mcp.admin.servers.list", "{}", 10s);
  REQUIRE(first.ok());
  Json page = Json::parse(first.value().data());
  CHECK(page["total"] == 61);
  CHECK(page["servers"].size() < 61);
  REQUIRE(page.contains("next_cursor"));
  auto limited = c.client->request("mcp.admin.servers.list", R"({"limit":2,"cursor":"bulk-05"})", 10s);
  REQUIRE(limited.ok());
  Json two = Json::parse(limited.value().data());
  REQUIRE(two["servers"].size() == 2);
  CHECK(two["servers"][0]["name"] == "bulk-06");
  CHECK(two["next_cursor"] == "bulk-07");

  auto ls = c.run({"server", "ls"});
  INFO(ls.err);
  REQUIRE(ls.exit_code == 0);
  for (const char* name : {"bulk-00", "bulk-31", "bulk-59", "fake"}) CHECK_THAT(ls.out, Catch::Contains(name));
  auto json = c.run({"--json", "server", "ls"});
  REQUIRE(json.exit_code == 0);
  CHECK(json_out(json)["servers"].size() == 61);
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

TEST_CASE("mcpctl call --progress prints the server's progress and an error still ends it with exit 1") {
  Cluster c;
  auto call = c.run({"call", "fake", "progress", "--args", R"({"steps": 3, "interval_ms": 50})", "--progress"});
  INFO(call);
  REQUIRE(call.exit_code == 0);
  CHECK(call.out == "done\n");
  CHECK(call.err == "progress 1/3: step 1\nprogress 2/3: step 2\nprogress 3/3: step 3\n");
  // Without --progress (and not on a terminal) nothing but the result.
  auto quiet = c.run({"call", "fake", "progress", "--args", R"({"steps": 2})"});
  CHECK(quiet.err.empty());
  CHECK_THAT(c.run({"call", "fake", "fail", "--progress"}),
             ExitsWith(1).err(Catch::Contains("tool_error") && Catch::Contains("tool failed on purpose")));
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

// ---- tasks (contract 1.1): call --task and the tasks commands ----------------------------------

namespace {

// mcpctl running in the background (call --task, tasks watch), stdin from /dev/null and its
// stdout and stderr in files, to be looked at while it runs, interrupted and waited for. Killed
// if still running when it goes.
class Background {
 public:
  explicit Background(const std::vector<std::string>& args) {
    std::vector<std::string> argv_s = {MCPD_MCPCTL_BIN};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env_s;  // as mcpctl() does: no MCPD_NATS_* (every call says --nats)
    for (char** e = environ; *e; ++e)
      if (std::string_view(*e).rfind("MCPD_NATS_", 0) != 0) env_s.emplace_back(*e);
    std::vector<char*> envp;
    for (auto& e : env_s) envp.push_back(e.data());
    envp.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, out_path().c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, err_path().c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int rc = ::posix_spawn(&pid_, argv[0], &fa, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) FAIL("cannot spawn " << argv[0] << ": " << std::strerror(rc));
    start_ = std::chrono::steady_clock::now();
  }
  ~Background() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  Background(const Background&) = delete;
  Background& operator=(const Background&) = delete;

  std::string err() const { return read_file(err_path()); }
  // Whether its stderr shows `text` within `timeout`.
  bool err_shows(const std::string& text, std::chrono::milliseconds timeout = 30s) const {
    return wait_until([&] { return err().find(text) != std::string::npos; }, timeout, 20ms);
  }
  void interrupt() { ::kill(pid_, SIGINT); }
  // Waits for it to exit (killed and a failure after `timeout`) and returns how it ended.
  Run wait(std::chrono::milliseconds timeout = 30s) {
    int status = 0;
    bool exited = wait_until([&] { return ::waitpid(pid_, &status, WNOHANG) == pid_; }, timeout, 5ms);
    if (!exited) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
    }
    pid_ = -1;
    Run r;
    r.took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start_);
    r.out = read_file(out_path());
    r.err = err();
    if (!exited) FAIL("mcpctl did not exit within " << timeout.count() << " ms\n" << r);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return r;
  }

 private:
  std::filesystem::path out_path() const { return dir_.path() / "stdout"; }
  std::filesystem::path err_path() const { return dir_.path() / "stderr"; }

  TempDir dir_;
  pid_t pid_ = -1;
  std::chrono::steady_clock::time_point start_;
};

// The node of Cluster, and with `everything` the pinned server-everything registered as
// "everything" (its simulate-research-query is a native MCP task; trigger-long-running-operation
// reports progress).
struct TaskCluster : Cluster {
  explicit TaskCluster(bool everything = true) {
    if (!everything) return;
    auto add = run({"server", "add", "everything", "--command", npm_bin("mcp-server-everything"), "--max-sessions", "2"});
    INFO(add);
    REQUIRE(add.exit_code == 0);
    REQUIRE(wait_until([&] { return run({"tools", "everything"}).exit_code == 0; }, 60s, 200ms));
  }
  // mcpctl --nats <this NATS> args..., allowed `timeout` to finish.
  Run run_for(std::vector<std::string> args, std::chrono::milliseconds timeout) {
    args.insert(args.begin(), {"--nats", nats.url()});
    return mcpctl(args, timeout);
  }
  Background start(std::vector<std::string> args) {
    args.insert(args.begin(), {"--nats", nats.url()});
    return Background(args);
  }
  // Creates a task straight over NATS (execute with "task"), as another client would, and
  // returns its id.
  std::string create_task(const std::string& server, const std::string& tool, const Json& args, const Json& extra = {}) {
    Json req = {{"tool", tool}, {"args", args}, {"task", Json::object()}};
    if (extra.is_object()) req.update(extra);
    auto reply = client->request("mcp." + server + ".execute", req.dump(), 10s);
    REQUIRE(reply.ok());
    Json body = Json::parse(std::string(reply.value().data()));
    INFO(body.dump());
    REQUIRE(body["task"]["task_id"].is_string());
    return body["task"]["task_id"].get<std::string>();
  }
};

// The id in mcpctl's "task <id>: ..." status lines, or "".
std::string task_id_in(const std::string& err) {
  auto at = err.find("task ");
  if (at == std::string::npos || err.size() < at + 5 + 32) return {};
  return err.substr(at + 5, 32);
}

}  // namespace

TEST_CASE("mcpctl call --task follows a research task to its report and tasks ls shows it") {
  TaskCluster c;
  auto call = c.run_for({"call", "everything", "simulate-research-query", "--args", R"({"topic":"x"})", "--task",
                         "--owner", "alice"},
                        60s);
  INFO(call);
  REQUIRE(call.exit_code == 0);
  CHECK_THAT(call.out, Catch::Contains("Research Report: x"));
  // Not a terminal: a plain line for each change, ending with the final status.
  const std::string id = task_id_in(call.err);
  REQUIRE(id.size() == 32);
  CHECK_THAT(call.err, Catch::Contains("task " + id + ": working"));
  CHECK_THAT(call.err, Catch::Contains("task " + id + ": completed"));
  CHECK(call.err.find('\r') == std::string::npos);

  auto ls = c.run({"tasks", "ls", "--owner", "alice"});
  INFO(ls);
  REQUIRE(ls.exit_code == 0);
  CHECK_THAT(ls.out, Catch::StartsWith("TASK "));
  CHECK(has_row(ls.out, id));
  CHECK_THAT(ls.out, Catch::Contains("completed") && Catch::Contains("simulate-research-query"));

  auto json = c.run({"--json", "tasks", "ls", "--owner", "alice", "--status", "completed"});
  INFO(json);
  Json list = json_out(json);
  REQUIRE(list.is_array());
  REQUIRE(list.size() == 1);
  CHECK(list[0]["task_id"] == id);
  CHECK(list[0]["server"] == "everything");

  // Another owner, and nobody, see nothing.
  auto other = c.run({"tasks", "ls", "--owner", "mallory"});
  INFO(other);
  CHECK(other.exit_code == 0);
  CHECK(other.out == "no tasks\n");
  CHECK_THAT(c.run({"tasks", "get", id, "--owner", "mallory"}), ExitsWith(1).err(Catch::Contains("not_found")));

  // The result again, later, as call printed it.
  auto result = c.run({"tasks", "result", id, "--owner", "alice"});
  INFO(result);
  CHECK(result.exit_code == 0);
  CHECK(result.out == call.out);
}

TEST_CASE("mcpctl tasks get and tasks cancel of a long task show it cancelled") {
  TaskCluster c;
  const std::string id =
      c.create_task("everything", "trigger-long-running-operation", {{"duration", 30}, {"steps", 30}}, {{"owner", "bob"}});
  auto get = c.run({"tasks", "get", id, "--owner", "bob"});
  INFO(get);
  REQUIRE(get.exit_code == 0);
  CHECK_THAT(get.out, Catch::Contains("task:") && Catch::Contains(id));
  CHECK_THAT(get.out, Catch::Contains("status:") && Catch::Contains("working"));
  CHECK_THAT(get.out, Catch::Contains("trigger-long-running-operation"));

  auto cancel = c.run({"tasks", "cancel", id, "--owner", "bob"});
  INFO(cancel);
  REQUIRE(cancel.exit_code == 0);
  CHECK_THAT(cancel.out, Catch::StartsWith("task " + id + ": cancelled"));

  auto after = c.run({"--json", "tasks", "get", id, "--owner", "bob"});
  INFO(after);
  CHECK(json_out(after)["task"]["status"] == "cancelled");
  CHECK_THAT(c.run({"tasks", "get", id, "--owner", "bob"}), ExitsWith(0).out(Catch::Contains("cancelled")));
  // Its result is the error a cancelled call gets; watching it ends at once, not completed.
  CHECK_THAT(c.run({"tasks", "result", id, "--owner", "bob"}), ExitsWith(1).err(Catch::Contains("cancelled")));
  CHECK_THAT(c.run({"tasks", "watch", id, "--owner", "bob"}), ExitsWith(1).out(Catch::Contains("cancelled")));
  // Cancelling again says it had ended.
  CHECK_THAT(c.run({"tasks", "cancel", id, "--owner", "bob"}),
             ExitsWith(0).out(Catch::Contains("had already ended: cancelled")));
}

TEST_CASE("mcpctl tasks get of an unknown task fails with not_found") {
  Cluster c;
  CHECK_THAT(c.run({"tasks", "get", "0123456789abcdef0123456789abcdef"}),
             ExitsWith(1).err(Catch::Contains("not_found")).out(Catch::Equals("")));
  CHECK_THAT(c.run({"tasks", "result", "0123456789abcdef0123456789abcdef", "--session", "s1"}),
             ExitsWith(1).err(Catch::Contains("not_found")));
  // Not an id at all, or two owners: refused before anything is sent.
  CHECK_THAT(c.run({"tasks", "get", "nope"}), ExitsWith(2).err(Catch::Contains("is not a task id")));
  CHECK_THAT(c.run({"tasks", "get", "0123456789abcdef0123456789abcdef", "--owner", "a", "--session", "b"}),
             ExitsWith(2).err(Catch::Contains("not both")));
  CHECK_THAT(c.run({"call", "fake", "echo", "--ttl", "1000"}), ExitsWith(2).err(Catch::Contains("add --task")));
  CHECK_THAT(c.run({"tasks", "ls", "--status", "sleeping", "--owner", "a"}), ExitsWith(2).err(Catch::Contains("--status")));
}

TEST_CASE("mcpctl call --task shows progress and prints the result as call does") {
  Cluster c;
  auto call = c.run({"call", "fake", "progress", "--args", R"({"steps": 3, "interval_ms": 300})", "--task", "--session",
                     "s-progress"});
  INFO(call);
  REQUIRE(call.exit_code == 0);
  CHECK(call.out == "done\n");
  // Progress, "working 1/3: step 1" (mcpd sends one every 500 ms at most).
  CHECK_THAT(call.err, Catch::Contains("/3") && Catch::Contains("step "));
  CHECK_THAT(call.err, Catch::Contains(": completed"));

  // --json: the final reply, as plain call prints it.
  auto json = c.run({"--json", "call", "fake", "echo", "--args", R"({"message":"hi"})", "--task"});
  INFO(json);
  CHECK(json_out(json)["result"] == "hi");

  // A tool error ends the task failed: the same message and exit status as call.
  CHECK_THAT(c.run({"call", "fake", "fail", "--task"}),
             ExitsWith(1).err(Catch::Contains("tool_error") && Catch::Contains("tool failed on purpose")).out(Catch::Equals("")));

  // The session is the owner when no --owner is given.
  auto ls = c.run({"tasks", "ls", "--session", "s-progress"});
  INFO(ls);
  CHECK(has_row(ls.out, task_id_in(call.err)));
}

TEST_CASE("mcpctl tasks watch prints each status until the task ends") {
  TaskCluster c(/*everything=*/false);
  const std::string id = c.create_task("fake", "progress", {{"steps", 4}, {"interval_ms", 400}}, {{"owner", "dora"}});
  auto watch = c.run_for({"tasks", "watch", id, "--owner", "dora"}, 30s);
  INFO(watch);
  REQUIRE(watch.exit_code == 0);
  CHECK_THAT(watch.out, Catch::Contains("working"));
  // Progress, "working 1/4: step 1" (mcpd sends one every 500 ms at most).
  CHECK_THAT(watch.out, Catch::Contains("/4") && Catch::Contains(": step "));
  CHECK_THAT(watch.out, Catch::EndsWith("completed\n"));
}

TEST_CASE("mcpctl call --task detaches on Ctrl-C and leaves the task running") {
  TaskCluster c;
  Background call = c.start({"call", "everything", "trigger-long-running-operation", "--args",
                             R"({"duration": 30, "steps": 30})", "--task", "--owner", "erin"});
  REQUIRE(call.err_shows(": working"));
  call.interrupt();
  Run r = call.wait();
  INFO(r);
  CHECK(r.exit_code == 130);
  const std::string id = task_id_in(r.err);
  REQUIRE(id.size() == 32);
  CHECK_THAT(r.err, Catch::Contains("task " + id + " still running; see it with: mcpctl tasks get " + id));
  CHECK(r.out.empty());
  CHECK_THAT(c.run({"tasks", "get", id, "--owner", "erin"}), ExitsWith(0).out(Catch::Contains("working")));
  CHECK_THAT(c.run({"tasks", "cancel", id, "--owner", "erin"}), ExitsWith(0).out(Catch::Contains("cancelled")));
}

TEST_CASE("mcpctl call --task asks for input and tasks input answers it") {
  TaskCluster c;
  Background call = c.start({"call", "everything", "simulate-research-query", "--args",
                             R"({"topic": "python", "ambiguous": true})", "--task", "--owner", "finn"});
  REQUIRE(call.err_shows("mcpctl tasks input"));
  const std::string err = call.err();
  INFO(err);
  const std::string id = task_id_in(err);
  REQUIRE(id.size() == 32);
  CHECK_THAT(err, Catch::Contains("task " + id + " needs input: The research query \"python\" could have multiple"));
  CHECK_THAT(err, Catch::Contains("mcpctl tasks input " + id + " --owner finn --response"));
  CHECK_THAT(c.run({"tasks", "get", id, "--owner", "finn"}), ExitsWith(0).out(Catch::Contains("input_required")));

  auto input = c.run({"tasks", "input", id, "--owner", "finn", "--response",
                      R"({"action": "accept", "content": {"interpretation": "snake"}})"});
  INFO(input);
  CHECK(input.exit_code == 0);
  CHECK_THAT(input.out, Catch::StartsWith("task " + id + ": working"));

  Run r = call.wait(60s);
  INFO(r);
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("Research Report: python (snake)"));
}

TEST_CASE("mcpctl resources - read - prompts - prompt and complete show what server-everything offers") {
  TaskCluster c;
  auto resources = c.run({"resources", "everything"});
  INFO(resources);
  REQUIRE(resources.exit_code == 0);
  CHECK_THAT(resources.out, Catch::StartsWith("URI "));
  CHECK_THAT(resources.out, Catch::Contains("demo://resource/static/document/architecture.md"));
  auto templates = c.run({"resources", "everything", "--templates"});
  INFO(templates);
  CHECK_THAT(templates.out, Catch::Contains("demo://resource/dynamic/text/{resourceId}"));

  auto read = c.run({"read", "everything", "demo://resource/dynamic/text/42"});
  INFO(read);
  REQUIRE(read.exit_code == 0);
  CHECK_THAT(read.out, Catch::Contains("42"));
  auto blob = c.run({"read", "everything", "demo://resource/dynamic/blob/42"});
  INFO(blob);
  CHECK_THAT(blob.out, Catch::StartsWith("[blob "));
  auto json = c.run({"--json", "read", "everything", "demo://resource/dynamic/blob/42"});
  INFO(json);
  CHECK(Json::parse(json.out)["contents"][0]["blob"].is_string());

  auto prompts = c.run({"prompts", "everything"});
  INFO(prompts);
  REQUIRE(prompts.exit_code == 0);
  CHECK_THAT(prompts.out, Catch::Contains("args-prompt") && Catch::Contains("city [state]"));
  auto prompt = c.run({"prompt", "everything", "args-prompt", "--arg", "city=Lyon"});
  INFO(prompt);
  REQUIRE(prompt.exit_code == 0);
  CHECK_THAT(prompt.out, Catch::StartsWith("--- user\n") && Catch::Contains("Lyon"));

  auto complete = c.run({"complete", "everything", "--prompt", "completable-prompt", "--arg", "department=E"});
  INFO(complete);
  REQUIRE(complete.exit_code == 0);
  CHECK(complete.out == "Engineering\n");

  // Mistakes: the server's refusal (exit 1), and a usage error (exit 2).
  auto missing = c.run({"prompt", "everything", "no-such-prompt"});
  INFO(missing);
  CHECK(missing.exit_code == 1);
  CHECK_THAT(missing.err, Catch::StartsWith("mcpctl: invalid_request: ") && Catch::Contains("no-such-prompt"));
  auto neither = c.run({"complete", "everything", "--arg", "department=E"});
  INFO(neither);
  CHECK(neither.exit_code == 2);
  CHECK_THAT(neither.err, Catch::Contains("--prompt NAME or --template"));
}
