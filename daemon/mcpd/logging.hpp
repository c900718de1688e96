// Logging setup for the daemon: spdlog to stderr (journald adds its own timestamps), as text
// for people or one JSON object per line for log pipelines.
#pragma once

#include <string>

namespace mcpd::daemon {

// Throws std::invalid_argument on an unknown level or format.
void setup_logging(const std::string& level, const std::string& format, const std::string& node_id);

}  // namespace mcpd::daemon
