// The echo responder of mcpd_bench_node's `nats-loop` row: raw nats.c whose socket is driven by
// a single-threaded epoll loop of its own (nats.c's external event-loop API) and whose
// subscription is synchronous, drained on that loop. No reader thread hands messages to a
// delivery thread, unlike the bus::Connection responder of the `nats` row.
#pragma once

#include <string>

namespace mcpd::bench {

// Echoes every request on `subject` to its reply subject until SIGTERM; returns the exit code.
int run_event_loop_responder(const std::string& url, const std::string& subject);

}  // namespace mcpd::bench
