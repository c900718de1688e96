// What the process itself uses, read from /proc/self for the standard process_* metrics:
// resident memory, open file descriptors and start time.
#pragma once

#include "metrics/exposition.hpp"

namespace mcpd::metrics {

// Writes process_resident_memory_bytes, process_open_fds, process_max_fds and
// process_start_time_seconds (what cannot be read is left out).
void write_process(Exposition& out);

}  // namespace mcpd::metrics
