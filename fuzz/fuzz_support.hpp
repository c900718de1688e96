// Helpers the fuzz targets share: a property check that crashes (so libFuzzer keeps the
// input), and quiet logging (a target logs nothing: the log would cost more than the code).
#pragma once

#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>

namespace mcpd::fuzz {

// A property of the code under test that must hold for every input.
inline void check(bool holds, const char* property) {
  if (holds) return;
  std::fprintf(stderr, "property broken: %s\n", property);
  std::abort();
}

inline void quiet_logs() { spdlog::set_level(spdlog::level::off); }

}  // namespace mcpd::fuzz
