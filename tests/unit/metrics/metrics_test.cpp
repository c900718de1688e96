// The Prometheus text writer and the call metrics: escaping, cumulative buckets, bounded tool
// series, forgetting deleted servers.
#include "metrics/call_metrics.hpp"
#include "metrics/exposition.hpp"

#include <catch2/catch.hpp>

using namespace mcpd::metrics;
using namespace std::chrono_literals;

TEST_CASE("exposition escapes label values and help text and writes cumulative histogram buckets") {
  Exposition out;
  out.family("x_total", Exposition::Type::counter, "two\nlines \\ here");
  out.sample("x_total", {{"server", "a\"b\\c\nd"}}, std::uint64_t{7});
  const double bounds[] = {0.1, 1.0};
  const std::uint64_t counts[] = {2, 3};
  const Label labels[] = {{"server", "s"}};
  out.family("lat_seconds", Exposition::Type::histogram, "latency");
  out.histogram("lat_seconds", labels, bounds, counts, 6, 2.5);
  CHECK(out.text() ==
        "# HELP x_total two\\nlines \\\\ here\n"
        "# TYPE x_total counter\n"
        "x_total{server=\"a\\\"b\\\\c\\nd\"} 7\n"
        "# HELP lat_seconds latency\n"
        "# TYPE lat_seconds histogram\n"
        "lat_seconds_bucket{server=\"s\",le=\"0.1\"} 2\n"
        "lat_seconds_bucket{server=\"s\",le=\"1\"} 5\n"
        "lat_seconds_bucket{server=\"s\",le=\"+Inf\"} 6\n"
        "lat_seconds_sum{server=\"s\"} 2.5\n"
        "lat_seconds_count{server=\"s\"} 6\n");
}

TEST_CASE("call metrics count by server tool and code and put tools past the cap under _other") {
  CallMetrics m(2);
  m.record("a", "echo", "ok", 200us);
  m.record("a", "echo", "ok", 3ms);
  m.record("a", "add", "tool_error", 1ms);
  m.record("a", "third", "ok", 1ms);  // past the cap of 2 tool series
  m.record("b", "fourth", "timeout", 2s);
  Exposition out;
  m.write(out);
  const std::string& t = out.text();
  CHECK_THAT(t, Catch::Contains("mcpd_calls_total{server=\"a\",tool=\"echo\",code=\"ok\"} 2\n"));
  CHECK_THAT(t, Catch::Contains("mcpd_calls_total{server=\"a\",tool=\"add\",code=\"tool_error\"} 1\n"));
  CHECK_THAT(t, Catch::Contains("mcpd_calls_total{server=\"a\",tool=\"_other\",code=\"ok\"} 1\n"));
  CHECK_THAT(t, Catch::Contains("mcpd_calls_total{server=\"b\",tool=\"_other\",code=\"timeout\"} 1\n"));
  CHECK(t.find("third") == std::string::npos);
  CHECK_THAT(t, Catch::Contains("mcpd_call_duration_seconds_bucket{server=\"a\",le=\"0.00025\"} 1\n"));
  CHECK_THAT(t, Catch::Contains("mcpd_call_duration_seconds_bucket{server=\"a\",le=\"0.0025\"} 3\n"));
  CHECK_THAT(t, Catch::Contains("mcpd_call_duration_seconds_count{server=\"a\"} 4\n"));
  CHECK_THAT(t, Catch::Contains("mcpd_call_duration_seconds_bucket{server=\"b\",le=\"1\"} 0\n"));
  CHECK_THAT(t, Catch::Contains("mcpd_call_duration_seconds_bucket{server=\"b\",le=\"2.5\"} 1\n"));
  // Each family's header once, all its samples after it.
  CHECK(t.find("# TYPE mcpd_calls_total counter") == t.rfind("# TYPE mcpd_calls_total counter"));

  SECTION("a server that is gone takes its series and frees its tool series") {
    m.retain([](std::string_view s) { return s != "a"; });
    m.record("b", "fifth", "ok", 1ms);
    Exposition again;
    m.write(again);
    CHECK(again.text().find("server=\"a\"") == std::string::npos);
    CHECK_THAT(again.text(), Catch::Contains("mcpd_calls_total{server=\"b\",tool=\"fifth\",code=\"ok\"} 1\n"));
  }
}
