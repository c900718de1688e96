// LogBudget: keeps a misbehaving peer from flooding the log. The first `burst` events of each
// window are logged; the rest are only counted, and the next event logged says how many were
// suppressed. Not thread-safe: one budget belongs to one strand (or one thread).
#pragma once

#include "common/thread_annotations.hpp"

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
  // Events dropped since the last one logged: 1 right after the budget ran out.
  std::uint64_t pending_suppressed() const { return suppressed_; }

 private:
  std::uint32_t burst_;
  Clock::duration window_;
  Clock::time_point window_start_{};
  std::uint32_t used_ = 0;
  std::uint64_t suppressed_ = 0;
};

// One LogBudget shared by several strands (e.g. every session of one server): thread-safe.
class SharedLogBudget {
 public:
  explicit SharedLogBudget(std::uint32_t burst, LogBudget::Clock::duration window = std::chrono::seconds(60))
      : budget_(burst, window), burst_(burst) {}
  // As LogBudget::allow; `ran_out` is set for the one event that found the budget used up.
  bool allow(std::uint64_t& suppressed, bool& ran_out) MCPD_EXCLUDES(mu_) {
    MutexLock lock(mu_);
    const bool ok = budget_.allow(suppressed);
    ran_out = !ok && budget_.pending_suppressed() == 1;
    return ok;
  }
  std::uint32_t burst() const { return burst_; }

 private:
  Mutex mu_;
  LogBudget budget_ MCPD_GUARDED_BY(mu_);
  const std::uint32_t burst_;
};

}  // namespace mcpd
