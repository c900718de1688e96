// Runs the real mcpctl binary for integration tests: stdin from /dev/null, stdout and stderr
// captured, MCPD_NATS_* removed from its environment (every call names its NATS with --nats) unless
// the test sets them,
// killed and reported as a failure if it does not exit in time.
#pragma once

#include "support/test_support.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <ostream>
#include <spawn.h>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

extern char** environ;

namespace mcpd::test {

struct Run {
  int exit_code = -1;
  std::string out, err;
  std::chrono::milliseconds took{0};
};

inline std::ostream& operator<<(std::ostream& os, const Run& r) {
  return os << "exit " << r.exit_code << " after " << r.took.count() << " ms\n--- stdout:\n"
            << r.out << "--- stderr:\n"
            << r.err;
}

// Runs mcpctl with `args`, stdin from /dev/null, stdout and stderr captured in files; kills it
// and fails the test if it has not exited within `timeout`. `env` ("NAME=value") is added to its
// environment (after MCPD_NATS_* are removed), to test what mcpctl takes from there; `cwd`, when
// given, is its working directory.
inline Run mcpctl(const std::vector<std::string>& args, std::chrono::milliseconds timeout = 15s,
                  const std::vector<std::string>& env = {}, const std::filesystem::path& cwd = {}) {
  TempDir dir;
  auto out_path = dir.path() / "stdout", err_path = dir.path() / "stderr";
  std::vector<std::string> argv_s = {MCPD_MCPCTL_BIN};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);

  // The test's own environment, less MCPD_NATS_URL / MCPD_NATS_CREDS: every call says --nats.
  std::vector<std::string> env_s;
  for (char** e = environ; *e; ++e) {
    std::string_view v(*e);
    if (v.rfind("MCPD_NATS_", 0) != 0) env_s.emplace_back(v);
  }
  env_s.insert(env_s.end(), env.begin(), env.end());
  std::vector<char*> envp;
  for (auto& e : env_s) envp.push_back(e.data());
  envp.push_back(nullptr);

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (!cwd.empty()) posix_spawn_file_actions_addchdir_np(&fa, cwd.c_str());
  auto start = std::chrono::steady_clock::now();
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) FAIL("cannot spawn " << argv[0] << ": " << std::strerror(rc));

  int status = 0;
  bool exited = wait_until([&] { return ::waitpid(pid, &status, WNOHANG) == pid; }, timeout, 5ms);
  Run r;
  r.took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  if (!exited) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
  }
  r.out = read_file(out_path);
  r.err = read_file(err_path);
  if (!exited) FAIL("mcpctl did not exit within " << timeout.count() << " ms\n" << r);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

}  // namespace mcpd::test
