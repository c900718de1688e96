// What a process holds, read from /proc, for soak runs and leak checks: resident memory (VmRSS),
// threads, open file descriptors (entries of /proc/<pid>/fd) and descendant processes (every
// process whose parent chain leads to it, zombies included: MCP servers run in sessions of their
// own via setsid but are still its children). Linux only; a process that is gone reads as zeros.
#pragma once

#include <sys/types.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>

namespace mcpd::test {

struct ProcSample {
  long rss_kib = 0;
  int threads = 0;
  int fds = 0;
  int children = 0;  // descendants, at any depth
  int zombies = 0;   // of those, exited but not reaped
};

namespace proc_detail {

// (ppid, state) from /proc/<pid>/stat; the command name may hold spaces and ')', so parse after
// the last ')'.
inline bool stat_of(pid_t pid, pid_t& ppid, char& state) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto close = stat.rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream rest(stat.substr(close + 1));
  long parent = 0;
  rest >> state >> parent;
  ppid = static_cast<pid_t>(parent);
  return static_cast<bool>(rest);
}

// A "Name:   value kB" field of /proc/<pid>/status, or 0.
inline long status_field(pid_t pid, const std::string& name) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind(name + ":", 0) == 0) return std::strtol(line.c_str() + name.size() + 1, nullptr, 10);
  return 0;
}

}  // namespace proc_detail

// Every process whose parent chain leads to `root` (not `root` itself), with its state letter.
inline std::map<pid_t, char> descendants(pid_t root) {
  std::map<pid_t, std::pair<pid_t, char>> all;  // pid -> (ppid, state)
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    pid_t pid = static_cast<pid_t>(std::stol(name));
    pid_t ppid = 0;
    char state = 0;
    if (proc_detail::stat_of(pid, ppid, state)) all[pid] = {ppid, state};
  }
  std::map<pid_t, char> out;
  for (const auto& [pid, info] : all) {
    // Walk up; a cycle cannot happen, but a process may vanish mid-walk: bound the depth.
    pid_t p = info.first;
    for (int depth = 0; depth < 64 && p > 1; ++depth) {
      if (p == root) {
        out[pid] = info.second;
        break;
      }
      auto it = all.find(p);
      if (it == all.end()) break;
      p = it->second.first;
    }
  }
  return out;
}

inline int open_fds(pid_t pid) {
  std::error_code ec;
  int n = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
    ++n;
  return n;
}

inline ProcSample sample_process(pid_t pid) {
  ProcSample s;
  if (pid <= 0) return s;
  s.rss_kib = proc_detail::status_field(pid, "VmRSS");
  s.threads = static_cast<int>(proc_detail::status_field(pid, "Threads"));
  s.fds = open_fds(pid);
  for (const auto& [child, state] : descendants(pid)) {
    ++s.children;
    if (state == 'Z') ++s.zombies;
  }
  return s;
}

inline ProcSample operator+(ProcSample a, const ProcSample& b) {
  a.rss_kib += b.rss_kib;
  a.threads += b.threads;
  a.fds += b.fds;
  a.children += b.children;
  a.zombies += b.zombies;
  return a;
}

}  // namespace mcpd::test
