#include "metrics/exposition.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace mcpd::metrics {

namespace {

const char* type_name(Exposition::Type t) {
  switch (t) {
    case Exposition::Type::counter: return "counter";
    case Exposition::Type::gauge: return "gauge";
    case Exposition::Type::histogram: return "histogram";
  }
  return "untyped";
}

void append_number(std::string& out, double v) {
  if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  if (std::isnan(v)) {
    out += "NaN";
    return;
  }
  // The shortest of 15 or 17 significant digits that reads back as the same double: 0.1, not
  // 0.10000000000000001.
  char buf[32];
  int n = std::snprintf(buf, sizeof buf, "%.15g", v);
  if (std::strtod(buf, nullptr) != v) n = std::snprintf(buf, sizeof buf, "%.17g", v);
  out.append(buf, static_cast<std::size_t>(n));
}

// HELP text escapes backslash and newline; label values also escape the double quote.
void append_escaped(std::string& out, std::string_view s, bool quote) {
  for (char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (quote && c == '"') out += "\\\"";
    else out += c;
  }
}

}  // namespace

void Exposition::family(std::string_view name, Type type, std::string_view help) {
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  append_escaped(out_, help, false);
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += type_name(type);
  out_ += '\n';
}

void Exposition::labels(std::span<const Label> labels, std::string_view le) {
  if (labels.empty() && le.empty()) return;
  out_ += '{';
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) out_ += ',';
    first = false;
    out_ += k;
    out_ += "=\"";
    append_escaped(out_, v, true);
    out_ += '"';
  }
  if (!le.empty()) {
    if (!first) out_ += ',';
    out_ += "le=\"";
    out_ += le;
    out_ += '"';
  }
  out_ += '}';
}

void Exposition::sample(std::string_view name, Labels l, double value) {
  out_ += name;
  labels(std::span<const Label>(l.begin(), l.size()));
  out_ += ' ';
  append_number(out_, value);
  out_ += '\n';
}

void Exposition::sample(std::string_view name, Labels l, std::uint64_t value) {
  sample(name, std::span<const Label>(l.begin(), l.size()), value);
}

void Exposition::sample(std::string_view name, std::span<const Label> l, std::uint64_t value) {
  out_ += name;
  labels(l);
  out_ += ' ';
  out_ += std::to_string(value);
  out_ += '\n';
}

void Exposition::histogram(std::string_view name, std::span<const Label> l, std::span<const double> bounds,
                           std::span<const std::uint64_t> counts, std::uint64_t count, double sum) {
  const std::string bucket = std::string(name) + "_bucket";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    cumulative += i < counts.size() ? counts[i] : 0;
    std::string le;
    append_number(le, bounds[i]);
    out_ += bucket;
    labels(l, le);
    out_ += ' ';
    out_ += std::to_string(cumulative);
    out_ += '\n';
  }
  out_ += bucket;
  labels(l, "+Inf");
  out_ += ' ';
  out_ += std::to_string(count);
  out_ += '\n';
  out_ += name;
  out_ += "_sum";
  labels(l);
  out_ += ' ';
  append_number(out_, sum);
  out_ += '\n';
  out_ += name;
  out_ += "_count";
  labels(l);
  out_ += ' ';
  out_ += std::to_string(count);
  out_ += '\n';
}

}  // namespace mcpd::metrics
