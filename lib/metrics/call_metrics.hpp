// CallMetrics: what the node's tool calls did, for /metrics: calls counted by server, tool and
// outcome code, and latency histograms per server and per tool. Cardinality is bounded: tool
// names come from callers, so the caller passes "_other" for a tool the server does not have,
// and past `max_tool_series` distinct (server, tool) pairs new tools are counted as "_other"
// too. A deleted server's series go with it (forget).
//
// Thread-safe: record() takes a short lock (a map lookup and a few additions) on whichever
// thread answers the call.
#pragma once

#include "common/thread_annotations.hpp"
#include "metrics/exposition.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <string_view>

namespace mcpd::metrics {

// Latency buckets in seconds: from a fast local call (~100 µs) to a long one (a minute).
inline constexpr std::array<double, 17> kLatencyBounds{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                       0.05,   0.1,     0.25,   0.5,   1.0,    2.5,   5.0,  10.0, 60.0};

struct Histogram {
  std::array<std::uint64_t, kLatencyBounds.size()> counts{};  // per bucket, not cumulative
  std::uint64_t count = 0;                                    // all observations (+Inf)
  double sum = 0;                                             // seconds

  void observe(double seconds);
  void write(Exposition& out, std::string_view name, std::span<const Label> labels) const;
};

class CallMetrics {
 public:
  // The tool label for calls whose tool is not counted by name.
  static constexpr std::string_view kOther = "_other";

  explicit CallMetrics(std::size_t max_tool_series = 1000) : max_tool_series_(max_tool_series) {}

  // One call answered: `code` is "ok" or the error code of the reply.
  void record(std::string_view server, std::string_view tool, std::string_view code, std::chrono::nanoseconds took)
      MCPD_EXCLUDES(mu_);
  // The server is gone: its series go too.
  void forget(std::string_view server) MCPD_EXCLUDES(mu_);
  // Forgets every server `keep` says no to (servers deleted since).
  void retain(const std::function<bool(std::string_view server)>& keep) MCPD_EXCLUDES(mu_);

  // Writes mcpd_calls_total, mcpd_call_duration_seconds and mcpd_tool_call_duration_seconds.
  void write(Exposition& out) const MCPD_EXCLUDES(mu_);

 private:
  struct Tool {
    Histogram latency;
    std::map<std::string, std::uint64_t, std::less<>> by_code;
  };
  struct Server {
    Histogram latency;
    std::map<std::string, Tool, std::less<>> tools;
  };

  const std::size_t max_tool_series_;
  mutable Mutex mu_;
  std::map<std::string, Server, std::less<>> servers_ MCPD_GUARDED_BY(mu_);
  std::size_t tool_series_ MCPD_GUARDED_BY(mu_) = 0;
};

}  // namespace mcpd::metrics
