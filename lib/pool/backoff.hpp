// Restart pacing for crashed sessions: exponential backoff with jitter, and a circuit breaker
// that stops restarting a server that keeps failing, then half-opens after a cool-down.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>
#include <string>

namespace mcpd::pool {

struct BackoffPolicy {
  std::chrono::milliseconds initial{200};
  std::chrono::milliseconds max{30000};
  double jitter = 0.5;                       // the delay is scaled by a factor in [1-j, 1+j]
  int failures_to_open = 5;                  // consecutive failures that open the circuit
  std::chrono::milliseconds cooldown{30000}; // open → half-open after this long
};

enum class CircuitState { closed, open, half_open };

inline const char* to_string(CircuitState s) {
  switch (s) {
    case CircuitState::closed: return "closed";
    case CircuitState::open: return "open";
    case CircuitState::half_open: return "half_open";
  }
  return "closed";
}

// Counts consecutive failures and says how long to wait before the next attempt. Not
// thread-safe: the pool owns one per server, on its strand.
class Backoff {
 public:
  explicit Backoff(BackoffPolicy policy, std::uint64_t seed = std::random_device{}())
      : policy_(policy), rng_(seed) {}

  // Records a failure; returns the delay before the next attempt.
  std::chrono::milliseconds failure() {
    ++failures_;
    if (failures_ >= policy_.failures_to_open) state_ = CircuitState::open;
    double base = static_cast<double>(policy_.initial.count());
    for (int i = 1; i < failures_ && base < static_cast<double>(policy_.max.count()); ++i) base *= 2;
    if (base > static_cast<double>(policy_.max.count())) base = static_cast<double>(policy_.max.count());
    std::uniform_real_distribution<double> factor(1.0 - policy_.jitter, 1.0 + policy_.jitter);
    return std::chrono::milliseconds(static_cast<std::int64_t>(base * factor(rng_)));
  }
  void success() {
    failures_ = 0;
    state_ = CircuitState::closed;
  }
  // Open → half-open: the next attempt decides.
  void half_open() {
    if (state_ == CircuitState::open) state_ = CircuitState::half_open;
  }
  CircuitState state() const { return state_; }
  int failures() const { return failures_; }
  const BackoffPolicy& policy() const { return policy_; }

 private:
  BackoffPolicy policy_;
  std::mt19937_64 rng_;
  int failures_ = 0;
  CircuitState state_ = CircuitState::closed;
};

}  // namespace mcpd::pool
