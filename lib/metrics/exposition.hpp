// Exposition: writes metrics in the Prometheus text format (version 0.0.4), the format every
// Prometheus-compatible scraper reads. A family (its HELP and TYPE lines) is written once, then
// all of its samples, as the format requires. Label values are escaped; names are the caller's
// constants. Not thread-safe: one writer per scrape.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mcpd::metrics {

using Label = std::pair<std::string_view, std::string_view>;
using Labels = std::initializer_list<Label>;

class Exposition {
 public:
  enum class Type { counter, gauge, histogram };

  // Starts a family: its HELP and TYPE lines.
  void family(std::string_view name, Type type, std::string_view help);
  // One sample of the current family; `name` is the family's name (plus _bucket, _sum, _count
  // for a histogram's parts, which histogram() writes).
  void sample(std::string_view name, Labels labels, double value);
  void sample(std::string_view name, Labels labels, std::uint64_t value);
  void sample(std::string_view name, std::span<const Label> labels, std::uint64_t value);
  // A histogram's samples: `counts[i]` observations fell at or below `bounds[i]` and above the
  // bound before (not cumulative; this writes the cumulative _bucket series), `count` in all
  // (the +Inf bucket), `sum` their total.
  void histogram(std::string_view name, std::span<const Label> labels, std::span<const double> bounds,
                 std::span<const std::uint64_t> counts, std::uint64_t count, double sum);

  const std::string& text() const { return out_; }
  std::string take() { return std::move(out_); }

 private:
  void labels(std::span<const Label> labels, std::string_view le = {});

  std::string out_;
};

// Prometheus' media type for this format.
inline constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace mcpd::metrics
