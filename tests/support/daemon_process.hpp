// Runs the real mcpd binary for integration tests: writes its TOML config into a temporary
// directory, starts it, waits until it answers on NATS, and stops it with a signal. The
// daemon's log is kept in a file for failure messages.
#pragma once

#include "bus/connection.hpp"
#include "support/test_support.hpp"

#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

extern char** environ;

namespace mcpd::test {

// The mcpd binary this build made; MCPD_DAEMON in the environment names another one (a bench
// comparing two builds).
inline std::string daemon_path() {
  const char* other = std::getenv("MCPD_DAEMON");
  return other && *other ? std::string(other) : std::string(MCPD_DAEMON_BIN);
}

class DaemonProcess {
 public:
  // `toml` is the whole config file except [store] (the test's temporary directory). `env`
  // ("NAME=value") is added to the test's environment for the daemon.
  explicit DaemonProcess(const std::string& toml, std::vector<std::string> env = {}) : env_(std::move(env)) {
    config_ = dir_.path() / "mcpd.toml";
    log_ = dir_.path() / "mcpd.log";
    std::ofstream(config_) << toml << "\n[store]\npath = \"" << (dir_.path() / "catalog.db").string() << "\"\n";
    start();
  }
  ~DaemonProcess() { kill(); }
  // Writes a new config file in place of the first (for a reload test: then signal(SIGHUP)).
  void rewrite_config(const std::string& toml) {
    std::ofstream(config_) << toml << "\n[store]\npath = \"" << (dir_.path() / "catalog.db").string() << "\"\n";
  }
  DaemonProcess(const DaemonProcess&) = delete;
  DaemonProcess& operator=(const DaemonProcess&) = delete;

  void start() {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    std::string bin = daemon_path(), flag = "--config", cfg = config_.string();
    char* argv[] = {bin.data(), flag.data(), cfg.data(), nullptr};
    std::vector<std::string> env_s;
    for (char** e = environ; *e; ++e) {  // ours replace the test's own of the same name
      std::string_view v(*e);
      bool replaced = false;
      for (const auto& mine : env_) replaced = replaced || v.substr(0, v.find('=') + 1) == mine.substr(0, mine.find('=') + 1);
      if (!replaced) env_s.emplace_back(v);
    }
    env_s.insert(env_s.end(), env_.begin(), env_.end());
    std::vector<char*> envp;
    for (auto& e : env_s) envp.push_back(e.data());
    envp.push_back(nullptr);
    if (::posix_spawn(&pid_, bin.c_str(), &fa, nullptr, argv, envp.data()) != 0) throw std::runtime_error("cannot spawn mcpd");
    posix_spawn_file_actions_destroy(&fa);
  }

  // Waits until the daemon has logged "serving" (which comes after it announced its config file's
  // servers) and then answers the admin API; fails with its log. The request is sent only after
  // the line is seen: its answer leaves on the daemon's connection after the announcements, and
  // NATS keeps one connection's messages in order, so a subscription the test makes afterwards
  // sees none of them (asked before the line, it could be answered first, and a late
  // announcement reach a subscription made after the line).
  void wait_serving(bus::Connection& client, const std::string& prefix = "mcp") {
    bool up = wait_until(
        [&] {
          return log().find(" MCP servers on ") != std::string::npos &&
                 client.request(prefix + ".admin.servers.list", "{}", std::chrono::milliseconds(500)).ok();
        },
        std::chrono::seconds(20), std::chrono::milliseconds(50));
    if (!up) throw std::runtime_error("mcpd did not start serving; its log:\n" + log());
  }

  void signal(int sig) {
    if (pid_ > 0) ::kill(pid_, sig);
  }
  // Waits for the daemon to exit; its exit status, or nullopt on timeout.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    if (pid_ <= 0) return exit_status_;
    int status = 0;
    bool done = wait_until([&] { return ::waitpid(pid_, &status, WNOHANG) == pid_; }, timeout);
    if (!done) return std::nullopt;
    pid_ = -1;
    exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return exit_status_;
  }
  void kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  int pid() const { return pid_; }
  std::string log() const { return read_file(log_); }
  const std::filesystem::path& dir() const { return dir_.path(); }

 private:
  TempDir dir_;
  std::vector<std::string> env_;
  std::filesystem::path config_, log_;
  pid_t pid_ = -1;
  std::optional<int> exit_status_;
};

}  // namespace mcpd::test
