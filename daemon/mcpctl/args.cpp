// Command-line parsing for mcpctl: see args.hpp.
#include "args.hpp"

#include <cctype>
#include <charconv>

namespace mcpd::mcpctl {
namespace {

const OptionSpec* find_long(std::span<const std::span<const OptionSpec>> tables, std::string_view name) {
  for (auto table : tables)
    for (const auto& o : table)
      if (o.name == name) return &o;
  return nullptr;
}

const OptionSpec* find_short(std::span<const std::span<const OptionSpec>> tables, char c) {
  for (auto table : tables)
    for (const auto& o : table)
      if (o.short_name == c) return &o;
  return nullptr;
}

// "--min_sessions" or "--minSessions" → "--min-sessions": the usual slips.
std::string suggest(std::span<const std::span<const OptionSpec>> tables, std::string_view name) {
  auto fold = [](std::string_view s) {
    std::string f;
    for (char c : s)
      if (c != '-' && c != '_') f += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return f;
  };
  const std::string folded = fold(name);
  for (auto table : tables)
    for (const auto& o : table)
      if (fold(o.name) == folded) return " (did you mean --" + std::string(o.name) + "?)";
  return {};
}

}  // namespace

std::optional<std::string> ParsedArgs::get(std::string_view name) const {
  auto it = values_.find(name);
  if (it == values_.end() || it->second.empty()) return std::nullopt;
  return it->second.back();
}

const std::vector<std::string>& ParsedArgs::all(std::string_view name) const {
  static const std::vector<std::string> kNone;
  auto it = values_.find(name);
  return it == values_.end() ? kNone : it->second;
}

std::vector<std::string> ParsedArgs::given() const {
  std::vector<std::string> names;
  for (const auto& [name, values] : values_) names.push_back(name);
  return names;
}

ParsedArgs parse_args(std::span<const std::span<const OptionSpec>> tables, std::span<const std::string> args,
                      bool stop_at_operand, std::size_t* stopped_at) {
  ParsedArgs out;
  if (stopped_at) *stopped_at = args.size();
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") {
      if (stop_at_operand) {
        if (stopped_at) *stopped_at = i + 1;
        return out;
      }
      out.rest.assign(args.begin() + static_cast<std::ptrdiff_t>(i) + 1, args.end());
      return out;
    }
    if (a.size() < 2 || a[0] != '-') {  // an operand ("-" alone is one too: stdin)
      if (stop_at_operand) {
        if (stopped_at) *stopped_at = i;
        return out;
      }
      out.operands.push_back(a);
      continue;
    }
    const OptionSpec* spec = nullptr;
    std::string shown;  // the option as the user spelled it, for messages
    std::optional<std::string> inline_value;
    if (a[1] == '-') {
      std::string_view body = std::string_view(a).substr(2);
      auto eq = body.find('=');
      std::string_view name = body.substr(0, eq);
      if (eq != std::string_view::npos) inline_value = std::string(body.substr(eq + 1));
      shown = "--" + std::string(name);
      spec = find_long(tables, name);
      if (!spec) throw usage_error("unknown option " + shown + suggest(tables, name));
    } else {
      if (a.size() != 2) throw usage_error("unknown option " + a + " (long options take two dashes: -" + a + ")");
      shown = a;
      spec = find_short(tables, a[1]);
      if (!spec) throw usage_error("unknown option " + a);
    }
    std::string value;
    if (spec->value.empty()) {
      if (inline_value) throw usage_error(shown + " takes no value (got '" + *inline_value + "')");
    } else if (inline_value) {
      value = std::move(*inline_value);
    } else {
      // As getopt does, the next argument is the value even if it starts with '-'
      // (`--arg --verbose` passes "--verbose" to the server).
      if (i + 1 >= args.size()) throw usage_error(shown + " needs a value: " + shown + " " + std::string(spec->value));
      value = args[++i];
    }
    if (!spec->repeatable && out.has(spec->name))
      throw usage_error("--" + std::string(spec->name) + " is given more than once");
    out.add(spec->name, std::move(value));
  }
  return out;
}

std::string format_options(std::span<const OptionSpec> table, std::size_t column) {
  std::string out;
  for (const auto& o : table) {
    std::string left = "  ";
    left += o.short_name ? std::string("-") + o.short_name + ", " : std::string();
    left += "--" + std::string(o.name);
    if (!o.value.empty()) left += " " + std::string(o.value);
    if (o.repeatable) left += "...";
    out += left;
    if (left.size() + 2 > column) {
      out += "\n" + std::string(column, ' ');
    } else {
      out += std::string(column - left.size(), ' ');
    }
    for (char c : o.help) {
      out += c;
      if (c == '\n') out += std::string(column, ' ');
    }
    out += '\n';
  }
  return out;
}

std::int64_t parse_int_option(std::string_view option, const std::string& value, std::int64_t lo, std::int64_t hi) {
  std::int64_t n = 0;
  const char* end = value.data() + value.size();
  auto [ptr, ec] = std::from_chars(value.data(), end, n);
  if (value.empty() || ec != std::errc() || ptr != end)
    throw usage_error("--" + std::string(option) + ": expected an integer, got '" + value + "'");
  if (n < lo || n > hi)
    throw usage_error("--" + std::string(option) + ": must be between " + std::to_string(lo) + " and " +
                      std::to_string(hi) + ", got " + value);
  return n;
}

std::pair<std::string, std::string> split_pair(std::string_view option, const std::string& item, bool header) {
  auto eq = item.find('=');
  auto colon = header ? item.find(':') : std::string::npos;
  std::string key, value;
  if (colon != std::string::npos && (eq == std::string::npos || colon < eq)) {
    key = item.substr(0, colon);
    value = item.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' '));
  } else if (eq != std::string::npos) {
    key = item.substr(0, eq);
    value = item.substr(eq + 1);
  }
  if (key.empty())
    throw usage_error("--" + std::string(option) + " expects NAME=VALUE" + (header ? " (or 'Name: value')" : "") +
                      ", got '" + item + "'");
  return {key, value};
}

}  // namespace mcpd::mcpctl
