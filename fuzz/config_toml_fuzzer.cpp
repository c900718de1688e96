// Fuzz target: daemon::load_config, the daemon's TOML config file (toml++ and everything mcpd
// checks on top: sections, keys, types, ranges, [[servers]] records). The input is the file,
// handed over as /proc/self/fd/N of an in-memory file (load_config takes a path).
// Properties: nothing crashes; a bad file is refused with ConfigError and a message, nothing
// else is thrown; an accepted file's servers are valid records.
#include "fuzz_support.hpp"
#include "mcpd/config.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <string>

using namespace mcpd;
using fuzz::check;

namespace {

// One in-memory file for the whole run, rewritten per input.
const std::string& config_path() {
  static const std::string path = [] {
    int fd = ::memfd_create("mcpd-config", MFD_CLOEXEC);
    check(fd >= 0, "memfd_create works");
    return "/proc/self/fd/" + std::to_string(fd);
  }();
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::quiet_logs();
  // Environment overrides would mask what the file says.
  for (const char* v : {"MCPD_NATS_URL", "MCPD_STORE_PATH", "MCPD_NODE_ID", "MCPD_LOG_LEVEL"}) ::unsetenv(v);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string& path = config_path();
  const int fd = std::stoi(path.substr(path.rfind('/') + 1));
  check(::ftruncate(fd, 0) == 0 && ::pwrite(fd, data, size, 0) == static_cast<ssize_t>(size), "the input is written");
  try {
    daemon::DaemonConfig c = daemon::load_config(path);
    for (const auto& s : c.servers) check(catalog::validate(s).ok(), "an accepted server is a valid record");
  } catch (const daemon::ConfigError& e) {
    check(e.what()[0] != '\0', "a refusal says why");
  }
  return 0;
}
