#include "transport/process_group.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <fstream>
#include <spawn.h>
#include <sstream>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <system_error>
#include <unistd.h>

extern char** environ;

namespace mcpd::transport {
namespace {

// Closes what it holds unless released: keeps spawn_process leak-free on every error path.
struct Fd {
  int fd = -1;
  Fd() = default;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  int release() {
    int f = fd;
    fd = -1;
    return f;
  }
};

void make_pipe(Fd& read_end, Fd& write_end) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe2");
  read_end.fd = fds[0];
  write_end.fd = fds[1];
}

std::string find_program(const std::string& command, const std::map<std::string, std::string>& env) {
  if (command.find('/') != std::string::npos) return command;
  std::string path;
  if (auto it = env.find("PATH"); it != env.end()) {
    path = it->second;
  } else if (const char* p = std::getenv("PATH")) {
    path = p;
  } else {
    path = "/usr/local/bin:/usr/bin:/bin";
  }
  std::stringstream dirs(path);
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) dir = ".";
    std::string candidate = dir + "/" + command;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  throw std::system_error(ENOENT, std::generic_category(),
                          "command not found: '" + command + "' (searched PATH=" + path + ")");
}

}  // namespace

Spawned spawn_process(const SpawnSpec& spec) {
  // A child that dies makes our next write to its stdin fail: that must be EPIPE on the write,
  // not SIGPIPE killing the whole process. (Children get the default back: POSIX_SPAWN_SETSIGDEF.)
  static const bool sigpipe_ignored = [] {
    std::signal(SIGPIPE, SIG_IGN);
    return true;
  }();
  (void)sigpipe_ignored;
  const std::string program = find_program(spec.command, spec.env);

  Fd in_r, in_w, out_r, out_w, err_r, err_w;
  make_pipe(in_r, in_w);
  make_pipe(out_r, out_w);
  make_pipe(err_r, err_w);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_r.fd, STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out_w.fd, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err_w.fd, STDERR_FILENO);
  // Nothing else of ours reaches the server: not every library opens its descriptors
  // close-on-exec (nats.c's socket does not), and a child holding the daemon's NATS connection
  // keeps it open after the daemon is killed, so NATS goes on handing it calls.
  posix_spawn_file_actions_addclosefrom_np(&actions, STDERR_FILENO + 1);
  if (!spec.cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, spec.cwd.c_str());

  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t empty, defaults;
  sigemptyset(&empty);
  sigemptyset(&defaults);
  for (int sig : {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2}) sigaddset(&defaults, sig);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::vector<std::string> env_strings;
  env_strings.reserve(spec.env.size());
  for (const auto& [k, v] : spec.env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_strings;
  argv_strings.push_back(spec.command);
  argv_strings.insert(argv_strings.end(), spec.args.begin(), spec.args.end());
  std::vector<char*> argv;
  for (auto& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);

  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, program.c_str(), &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    std::string what = "cannot start '" + program + "'";
    if (!spec.cwd.empty()) what += " in '" + spec.cwd + "'";
    throw std::system_error(rc, std::generic_category(), what);
  }

  Spawned out;
  out.pid = pid;
  out.pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (out.pidfd < 0) {
    int err = errno;
    ::kill(-pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    throw std::system_error(err, std::generic_category(), "pidfd_open");
  }
  ::fcntl(out.pidfd, F_SETFD, FD_CLOEXEC);
  out.stdin_fd = in_w.release();
  out.stdout_fd = out_r.release();
  out.stderr_fd = err_r.release();
  return out;
}

std::map<std::string, std::string> child_environment(const std::map<std::string, std::string>& overrides,
                                                     bool inherit) {
  std::map<std::string, std::string> env;
  static const char* const kSafe[] = {"PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LC_ALL", "TZ", "TMPDIR"};
  if (inherit) {
    for (char** e = environ; e && *e; ++e) {
      std::string_view kv(*e);
      auto eq = kv.find('=');
      if (eq != std::string_view::npos) env.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
    }
  } else {
    for (const char* name : kSafe) {
      if (const char* v = std::getenv(name)) env.emplace(name, v);
    }
  }
  for (const auto& [k, v] : overrides) env[k] = v;
  return env;
}

bool signal_group(pid_t pgid, int sig) {
  if (pgid <= 1) return false;
  return ::kill(-pgid, sig) == 0;
}

namespace {
// Reads field 3 (state) and 5 (pgrp) of /proc/<pid>/stat; the comm field may hold spaces.
bool read_stat(const std::string& pid, char& state, long& pgrp) {
  std::ifstream f("/proc/" + pid + "/stat");
  std::string line;
  if (!std::getline(f, line)) return false;
  auto close_paren = line.rfind(')');
  if (close_paren == std::string::npos) return false;
  std::istringstream rest(line.substr(close_paren + 1));
  long ppid = 0;
  return static_cast<bool>(rest >> state >> ppid >> pgrp);
}
}  // namespace

bool process_alive(pid_t pid) {
  char state = 0;
  long pgrp = 0;
  if (!read_stat(std::to_string(pid), state, pgrp)) return false;
  return state != 'Z' && state != 'X';
}

bool group_alive(pid_t pgid) {
  if (pgid <= 1 || ::kill(-pgid, 0) != 0) return false;
  // kill() also succeeds for zombies nobody reaped yet; only live members count.
  DIR* dir = ::opendir("/proc");
  if (!dir) return true;
  bool alive = false;
  while (dirent* e = ::readdir(dir)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    char state = 0;
    long pgrp = 0;
    if (read_stat(e->d_name, state, pgrp) && pgrp == pgid && state != 'Z' && state != 'X') {
      alive = true;
      break;
    }
  }
  ::closedir(dir);
  return alive;
}

}  // namespace mcpd::transport
