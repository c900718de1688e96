// Table-driven command-line parsing for mcpctl. Each command declares its options as a table
// of OptionSpec; parse() reads `--opt value`, `--opt=value`, flags, repeated options, `-h` and a
// `--` after which everything is an operand. Mistakes are CliErrors with status 2 (usage).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mcpd::mcpctl {

// Ends the program: main() prints "mcpctl: <what()>" to stderr and exits with `status`
// (1: the request failed, 2: usage error, followed by the command's short usage).
struct CliError : std::runtime_error {
  CliError(int status, const std::string& message) : std::runtime_error(message), status(status) {}
  int status;
};

inline CliError usage_error(const std::string& message) { return CliError(2, message); }
inline CliError failure(const std::string& message) { return CliError(1, message); }

struct OptionSpec {
  std::string_view name;     // long name without the dashes: "nats" for --nats
  char short_name = 0;       // 'h' for -h; 0 for none
  std::string_view value;    // placeholder shown in help ("URL"); empty for a flag
  std::string_view help;     // one line (may hold '\n' for more)
  bool repeatable = false;   // may be given more than once (each value kept, in order)
};

class ParsedArgs {
 public:
  std::vector<std::string> operands;  // positional arguments, before any `--`
  std::vector<std::string> rest;      // everything after `--`

  bool has(std::string_view name) const { return values_.find(name) != values_.end(); }
  // The value of a non-repeatable option.
  std::optional<std::string> get(std::string_view name) const;
  // Every value of a repeatable option, in order (empty when not given).
  const std::vector<std::string>& all(std::string_view name) const;
  void add(std::string_view name, std::string value) { values_[std::string(name)].push_back(std::move(value)); }
  // Names of the options given, for "cannot be combined" checks.
  std::vector<std::string> given() const;

 private:
  std::map<std::string, std::vector<std::string>, std::less<>> values_;
};

// Options are looked up in `tables` in order (a command's own first, then the global ones), so
// a command may give a global name its own meaning. With `stop_at_operand`, parsing stops at the
// first operand and `*stopped_at` receives its index (args.size() when none).
ParsedArgs parse_args(std::span<const std::span<const OptionSpec>> tables, std::span<const std::string> args,
                      bool stop_at_operand = false, std::size_t* stopped_at = nullptr);

// Help lines for a table: "  --nats URL       NATS server(s)..." aligned at `column`.
std::string format_options(std::span<const OptionSpec> table, std::size_t column = 24);

// Strict integer parsing for option values: the whole string, within [lo, hi]; otherwise a
// usage error naming the option.
std::int64_t parse_int_option(std::string_view option, const std::string& value, std::int64_t lo, std::int64_t hi);

// "K=V" → {K, V} for the value of --<option>; with `header`, "K: V" too, as curl takes them.
// A missing name is a usage error.
std::pair<std::string, std::string> split_pair(std::string_view option, const std::string& item, bool header);

}  // namespace mcpd::mcpctl
