// LogBudget: keeps a misbehaving peer from flooding the log. The first `burst` events of each
// window are logged; the rest are only counted, and the next event logged says how many were
// suppressed. Not thread-safe: one budget belongs to one strand (or one thread).
#pragma once

#include <chrono>
#include <cstdint>

namespace mcpd {

class LogBudget {
 public:
  using Clock = std::chrono::steady_clock;

  explicit LogBudget(std::uint32_t burst = 10, Clock::duration window = std::chrono::seconds(60))
      : burst_(burst), window_(window) {}

  // True when this event may be logged. `suppressed` then holds how many events were
  // dropped since the last one logged (0 most of the time).
  bool allow(std::uint64_t& suppressed, Clock::time_point now = Clock::now()) {
    if (now - window_start_ >= window_) {
      window_start_ = now;
      used_ = 0;
    }
    if (used_ >= burst_) {
      ++suppressed_;
      return false;
    }
    ++used_;
    suppressed = suppressed_;
    suppressed_ = 0;
    return true;
  }

 private:
  std::uint32_t burst_;
  Clock::duration window_;
  Clock::time_point window_start_{};
  std::uint32_t used_ = 0;
  std::uint64_t suppressed_ = 0;
};

}  // namespace mcpd
