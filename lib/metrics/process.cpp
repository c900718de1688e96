#include "metrics/process.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>

namespace mcpd::metrics {

namespace {

// Resident pages from /proc/self/statm (its second field).
std::optional<double> resident_bytes() {
  std::ifstream f("/proc/self/statm");
  long long size = 0, resident = 0;
  if (!(f >> size >> resident)) return std::nullopt;
  return static_cast<double>(resident) * static_cast<double>(::sysconf(_SC_PAGESIZE));
}

std::optional<double> open_fds() {
  std::error_code ec;
  std::filesystem::directory_iterator it("/proc/self/fd", ec), end;
  if (ec) return std::nullopt;
  double n = 0;
  for (; it != end; it.increment(ec)) {
    if (ec) return std::nullopt;
    ++n;
  }
  return n - 1;  // the iterator's own descriptor
}

// The process's start: boot time (/proc/stat btime) plus its start in clock ticks since boot
// (/proc/self/stat, field 22).
std::optional<double> start_time() {
  std::ifstream stat("/proc/stat");
  std::string line;
  double btime = -1;
  while (std::getline(stat, line))
    if (line.rfind("btime ", 0) == 0) btime = std::stod(line.substr(6));
  if (btime < 0) return std::nullopt;
  std::ifstream self("/proc/self/stat");
  std::string all((std::istreambuf_iterator<char>(self)), std::istreambuf_iterator<char>());
  auto close = all.rfind(')');  // the command name may hold spaces and parentheses
  if (close == std::string::npos) return std::nullopt;
  std::istringstream rest(all.substr(close + 2));
  std::string field;
  for (int i = 3; i <= 22 && rest >> field; ++i)
    if (i == 22) return btime + std::stod(field) / static_cast<double>(::sysconf(_SC_CLK_TCK));
  return std::nullopt;
}

}  // namespace

void write_process(Exposition& out) {
  if (auto v = resident_bytes()) {
    out.family("process_resident_memory_bytes", Exposition::Type::gauge, "Resident memory size in bytes.");
    out.sample("process_resident_memory_bytes", {}, *v);
  }
  if (auto v = open_fds()) {
    out.family("process_open_fds", Exposition::Type::gauge, "Number of open file descriptors.");
    out.sample("process_open_fds", {}, *v);
  }
  if (rlimit rl{}; ::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
    out.family("process_max_fds", Exposition::Type::gauge, "Maximum number of open file descriptors.");
    out.sample("process_max_fds", {}, static_cast<double>(rl.rlim_cur));
  }
  if (auto v = start_time()) {
    out.family("process_start_time_seconds", Exposition::Type::gauge,
               "Start time of the process since the Unix epoch in seconds.");
    out.sample("process_start_time_seconds", {}, *v);
  }
}

}  // namespace mcpd::metrics
