// How mcpctl shows things to a person: aligned tables, "key: value" records, pretty JSON, and
// tool results (raw text, or a summary for images, audio and resources). Nothing here talks to
// NATS; everything writes to the stream it is given.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstddef>
#include <iosfwd>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mcpd::mcpctl {

using Json = nlohmann::json;

// Columns separated by two spaces, a header row first. When `max_width` is non-zero (a
// terminal's width) the last column is cut to fit it, with "...".
class Table {
 public:
  explicit Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  void print(std::ostream& out, std::size_t max_width = 0) const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

// One "key: value" record; a value with several lines continues under the value column.
using Record = std::vector<std::pair<std::string, std::string>>;
void print_record(std::ostream& out, const Record& record);

// JSON indented by two, invalid UTF-8 replaced rather than thrown on.
std::string pretty(const Json& j);
// The body of a reply exactly as mcpd sent it (member order kept), indented by two.
std::string pretty_verbatim(const std::string& raw);
// JSON kept in the order it was sent, to combine several replies into one document: parsed
// from `raw` (null if it is not JSON), and indented by two.
using OrderedJson = nlohmann::ordered_json;
OrderedJson parse_ordered(const std::string& raw);
std::string pretty(const OrderedJson& j);

// A JSON parse error without nlohmann's "[json.exception.parse_error.101] " prefix.
std::string parse_problem(const Json::parse_error& e);

// The width of the terminal of file descriptor `fd` (default: stdout), or 0 when it is not a
// terminal.
std::size_t terminal_width(int fd = 1);

// Words joined with spaces, each quoted for a POSIX shell where it needs it.
std::string shell_join(const std::vector<std::string>& words);
std::string shell_quote(std::string_view word);
// The text before the first line break, without trailing spaces.
std::string first_line(std::string_view text);
// Cut to `width` characters (UTF-8 code points), ending in "..." when cut.
std::string truncate(std::string_view text, std::size_t width);
// Display width of UTF-8 text, counted in code points.
std::size_t display_width(std::string_view text);
// A duration for a person, two units at most: 45s, 3m12s, 2h05m, 4d3h (negative: 0s).
std::string human_duration(std::chrono::seconds d);

// A tool's result as `call` prints it. compat: a string raw, anything else as pretty JSON.
// mcp (a whole CallToolResult): text content as text, other content summarised one line each
// ("[image image/png, 1234 bytes base64]"), structuredContent only when there is no content.
void print_tool_result(std::ostream& out, const Json& result, bool mcp_format);
// One non-text content block summarised on one line.
std::string summarize_content(const Json& block);

// The line on stderr that shows where a long call or a task is: on a terminal one line
// rewritten in place, else a line for each change.
class StatusLine {
 public:
  StatusLine();
  StatusLine(const StatusLine&) = delete;
  StatusLine& operator=(const StatusLine&) = delete;
  ~StatusLine() { done(); }

  bool on_terminal() const { return tty_; }
  void show(const std::string& text);
  // Ends the live line, so that what follows starts on a line of its own.
  void done();
  // Lines that stay, printed under the live line, which then goes on below them.
  void say(const std::string& lines);

 private:
  bool tty_;
  std::size_t width_;
  std::string shown_;
  bool live_ = false;
};

// A progress number as a person writes it: 3, not 3.0.
std::string number_text(const Json& n);

// A progress event ({"progress", "total"?, "message"?}) in one line: on a terminal with a bar
// when the total is known ("[######----]  3/10  step 3"), else "progress 3/10: step 3".
std::string progress_text(const Json& event, bool bar);

}  // namespace mcpd::mcpctl
