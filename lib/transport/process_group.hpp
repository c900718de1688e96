// Small POSIX helpers for supervising a child's process group: spawn into a new session,
// signal the whole group, and check whether any live (non-zombie) member remains.
#pragma once

#include <map>
#include <string>
#include <sys/types.h>
#include <vector>

namespace mcpd::transport {

struct SpawnSpec {
  std::string command;                          // program; searched in the child's PATH if no '/'
  std::vector<std::string> args;                // arguments after argv[0]
  std::map<std::string, std::string> env;       // the child's whole environment
  std::string cwd;                              // empty: inherit
};

struct Spawned {
  pid_t pid = -1;
  int pidfd = -1;
  int stdin_fd = -1;   // write end
  int stdout_fd = -1;  // read end
  int stderr_fd = -1;  // read end
};

// Spawns the child in a new session (so its pid is its process-group id), with stdio on
// pipes, default signal dispositions and an empty signal mask. The first call makes this
// process ignore SIGPIPE, so writing to a dead child fails with EPIPE instead of killing us. Throws std::system_error with a
// message naming the command on failure.
Spawned spawn_process(const SpawnSpec& spec);

// The environment a child gets: a few harmless variables of ours (PATH, HOME, LANG, ...) unless
// `inherit` is set (then all of ours), overlaid with `overrides`.
std::map<std::string, std::string> child_environment(const std::map<std::string, std::string>& overrides,
                                                     bool inherit);

// Sends `sig` to every process of group `pgid`. Returns false if none is left.
bool signal_group(pid_t pgid, int sig);
// True while a non-zombie process of group `pgid` exists.
bool group_alive(pid_t pgid);
// True while `pid` exists and is not a zombie.
bool process_alive(pid_t pid);

}  // namespace mcpd::transport
