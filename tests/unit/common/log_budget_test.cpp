// LogBudget: a burst per window is logged, the rest counted and reported with the next line.
#include "common/log_budget.hpp"

#include <catch2/catch.hpp>

using mcpd::LogBudget;
using namespace std::chrono_literals;

TEST_CASE("a log budget lets a burst through per window and reports what it suppressed") {
  LogBudget budget(3, 10s);
  const auto t0 = LogBudget::Clock::now();
  std::uint64_t suppressed = 99;
  int allowed = 0;
  for (int i = 0; i < 100; ++i) allowed += budget.allow(suppressed, t0 + std::chrono::milliseconds(i));
  CHECK(allowed == 3);
  CHECK(suppressed == 0);  // the three allowed lines came before any suppression
  // The next window: the first line through says how many were dropped before it.
  REQUIRE(budget.allow(suppressed, t0 + 11s));
  CHECK(suppressed == 97);
  REQUIRE(budget.allow(suppressed, t0 + 11s));
  CHECK(suppressed == 0);
}
