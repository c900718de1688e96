// StdioTransport: spawning in a new process group with an explicit environment, line framing,
// stderr capture, exit reporting, and the stop sequence that leaves no process behind.
#include "transport/process_group.hpp"
#include "transport/stdio_transport.hpp"
#include "support/test_support.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <set>
#include <cstdlib>
#include <mutex>
#include <unistd.h>
#include <vector>

using namespace mcpd;
using namespace mcpd::test;
using namespace mcpd::transport;
using nlohmann::json;

namespace {

// Runs one StdioTransport and records what it delivers.
struct Child {
  io::Loop loop{1};
  std::shared_ptr<StdioTransport> t;
  std::mutex mu;
  std::vector<std::string> lines;
  Slot<Closed> closed;

  explicit Child(StdioOptions o) {
    if (o.name.empty()) o.name = "child";
    t = make_stdio_transport(loop.make_strand(), std::move(o));
    t->start({[this](std::string_view l) {
                std::lock_guard lock(mu);
                lines.emplace_back(l);
              },
              closed.callback()});
  }
  ~Child() {
    Slot<bool> done;
    t->close([cb = done.callback()] { cb(true); });
    done.get(30s);
  }
  std::size_t count() {
    std::lock_guard lock(mu);
    return lines.size();
  }
  std::string line(std::size_t i) {
    REQUIRE(wait_until([&] { return count() > i; }));
    std::lock_guard lock(mu);
    return lines[i];
  }
  json rpc(int id, const std::string& method, json params, std::size_t expect_index) {
    json m = {{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", std::move(params)}};
    REQUIRE(t->send(m.dump()));
    return json::parse(line(expect_index));
  }
};

StdioOptions fake(std::vector<std::string> args) {
  StdioOptions o;
  o.name = "fake";
  o.command = fake_server_path();
  o.args = std::move(args);
  o.eof_grace = 300ms;
  o.term_grace = 300ms;
  return o;
}

json call(const std::string& tool, json args = json::object()) { return {{"name", tool}, {"arguments", std::move(args)}}; }

}  // namespace

TEST_CASE("messages are framed by newlines in both directions") {
  Child c(fake({}));
  json r = c.rpc(1, "tools/call", call("echo", {{"message", "hello\nworld"}}), 0);
  CHECK(r["id"] == 1);
  CHECK(r["result"]["content"][0]["text"] == "hello\nworld");
}

TEST_CASE("the child runs in a new process group of its own") {
  Child c(fake({}));
  json r = c.rpc(1, "tools/call", call("pid"), 0);
  int pid = std::stoi(r["result"]["content"][0]["text"].get<std::string>());
  CHECK(pid == c.t->pid());
  CHECK(::getpgid(pid) == pid);
  CHECK(::getsid(pid) == pid);
  CHECK(::getpgid(pid) != ::getpgid(0));
}

TEST_CASE("the child's environment is explicit: the daemon's variables do not leak unless inherited") {
  ::setenv("MCPD_TEST_DAEMON_SECRET", "s3cr3t", 1);
  TempDir dir;
  auto run_env = [&](bool inherit) {
    StdioOptions o;
    o.command = "env";
    o.env = {{"FROM_CONFIG", "yes"}};
    o.inherit_env = inherit;
    o.cwd = dir.path().string();
    Child c(o);
    c.closed.get();
    std::lock_guard lock(c.mu);
    return c.lines;
  };
  auto lines = run_env(false);
  CHECK(std::find(lines.begin(), lines.end(), "FROM_CONFIG=yes") != lines.end());
  CHECK(std::none_of(lines.begin(), lines.end(), [](auto& l) { return l.rfind("MCPD_TEST_DAEMON_SECRET", 0) == 0; }));
  CHECK(std::any_of(lines.begin(), lines.end(), [](auto& l) { return l.rfind("PATH=", 0) == 0; }));
  auto inherited = run_env(true);
  CHECK(std::find(inherited.begin(), inherited.end(), "MCPD_TEST_DAEMON_SECRET=s3cr3t") != inherited.end());
}

TEST_CASE("the child gets stdin stdout and stderr and no other descriptor of the daemon") {
  // As nats.c's socket is: open without close-on-exec.
  const int leaky = ::open("/dev/null", O_RDONLY);
  REQUIRE(leaky > 2);
  StdioOptions o;
  o.command = "sh";
  o.args = {"-c", "ls /proc/$$/fd"};
  Child c(o);
  c.closed.get();
  ::close(leaky);
  std::lock_guard lock(c.mu);
  CHECK(c.lines == std::vector<std::string>{"0", "1", "2"});
}

TEST_CASE("the working directory is the configured one") {
  TempDir dir;
  StdioOptions o;
  o.command = "pwd";
  o.cwd = dir.path().string();
  Child c(o);
  CHECK(c.line(0) == std::filesystem::canonical(dir.path()).string());
}

TEST_CASE("a command that does not exist is reported as closed with a clear reason") {
  StdioOptions o;
  o.command = "no-such-mcp-server-binary";
  Child c(o);
  Closed closed = c.closed.get();
  CHECK_THAT(closed.reason, Catch::Contains("cannot start") && Catch::Contains("no-such-mcp-server-binary"));
  CHECK_FALSE(c.t->send("{}"));
}

TEST_CASE("a crash is reported with the exit status and the last stderr lines") {
  Child c(fake({"--mode", "stderr-chatty", "--stderr-lines=3"}));
  REQUIRE(c.t->send(json{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "tools/call"}, {"params", call("crash")}}.dump()));
  Closed closed = c.closed.get();
  REQUIRE(closed.exit_status);
  CHECK(*closed.exit_status == 3);
  CHECK_FALSE(closed.requested);
  CHECK_THAT(closed.describe(), Catch::Contains("exited with status 3") && Catch::Contains("crashing on purpose"));
  CHECK(std::find(closed.stderr_tail.begin(), closed.stderr_tail.end(), "log line 2") != closed.stderr_tail.end());
  CHECK_FALSE(process_alive(c.t->pid()));
}

TEST_CASE("what a server writes just before it exits is delivered before its exit is reported - every time") {
  // The exit and the last output are ready at the same moment: whichever the loop sees first,
  // the last message and the last stderr line must be in when the exit is reported.
  // With a message on stdout, and without (a server failing at start: stdout's EOF comes first).
  for (int i = 0; i < 50; ++i) {
    const bool says_bye = i % 2 == 0;
    StdioOptions o;
    o.name = "last-words";
    o.command = "/bin/sh";
    o.args = {"-c", std::string(says_bye ? "echo '{\"jsonrpc\":\"2.0\",\"method\":\"bye\"}'; " : "") +
                        "echo 'fatal: last words' >&2; exit 3"};
    Child c(o);
    auto closed = c.closed.get();
    INFO("run " << i << ": " << closed.describe());
    CHECK(closed.exit_status == 3);
    REQUIRE_FALSE(closed.stderr_tail.empty());
    CHECK(closed.stderr_tail.back() == "fatal: last words");
    CHECK(c.count() == (says_bye ? 1u : 0u));  // delivered before the exit was reported
  }
}

TEST_CASE("a server that ignores stdin EOF and SIGTERM is killed by SIGKILL - and nothing of its group survives") {
  Child c(fake({"--mode", "ignore-eof", "--mode", "spawn-grandchild"}));
  json r = c.rpc(1, "tools/call", call("grandchild_pid"), 0);
  int grandchild = std::stoi(r["result"]["content"][0]["text"].get<std::string>());
  int pid = c.t->pid();
  REQUIRE(grandchild > 0);
  REQUIRE(process_alive(grandchild));
  CHECK(::getpgid(grandchild) == pid);

  Slot<bool> done;
  auto start = std::chrono::steady_clock::now();
  c.t->close([cb = done.callback()] { cb(true); });
  CHECK(done.get());
  auto elapsed = std::chrono::steady_clock::now() - start;
  Closed closed = c.closed.get();
  REQUIRE(closed.term_signal);
  CHECK(*closed.term_signal == SIGKILL);
  CHECK(closed.requested);
  CHECK(elapsed < 5s);
  CHECK_FALSE(process_alive(pid));
  CHECK(wait_until([&] { return !process_alive(grandchild); }, 5s));
  CHECK_FALSE(group_alive(pid));
}

TEST_CASE("a well-behaved server stops at stdin EOF - and its grandchild is stopped with it") {
  Child c(fake({"--mode", "spawn-grandchild"}));
  json r = c.rpc(1, "tools/call", call("grandchild_pid"), 0);
  int grandchild = std::stoi(r["result"]["content"][0]["text"].get<std::string>());
  int pid = c.t->pid();
  Slot<bool> done;
  c.t->close([cb = done.callback()] { cb(true); });
  CHECK(done.get());
  Closed closed = c.closed.get();
  REQUIRE(closed.exit_status);
  CHECK(*closed.exit_status == 0);
  CHECK_FALSE(process_alive(pid));
  CHECK(wait_until([&] { return !process_alive(grandchild); }, 5s));
}

TEST_CASE("many messages sent at once arrive whole and in order") {
  Child c(fake({}));
  constexpr int kN = 300;
  for (int i = 0; i < kN; ++i) {
    std::string msg(1000 + i, 'a' + (i % 26));
    REQUIRE(c.t->send(json{{"jsonrpc", "2.0"}, {"id", i}, {"method", "tools/call"}, {"params", call("echo", {{"message", msg}})}}.dump()));
  }
  REQUIRE(wait_until([&] { return c.count() == kN; }, 20s));
  std::set<int> seen;
  for (int i = 0; i < kN; ++i) {
    json r = json::parse(c.line(i));
    int id = r["id"];
    CHECK(r["result"]["content"][0]["text"] == std::string(1000 + id, 'a' + (id % 26)));
    seen.insert(id);
  }
  CHECK(seen.size() == kN);
}
