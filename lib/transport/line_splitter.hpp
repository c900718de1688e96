// LineSplitter: the framing of a stdio MCP server's stdout, one JSON-RPC message per line. Fed
// the stream in chunks of any size, it hands out each complete line ('\n' ends it; a '\r'
// before the '\n' is dropped) and bounds the line still open, so a server that never ends a
// line cannot grow our buffer without limit.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace mcpd::transport {

class LineSplitter {
 public:
  explicit LineSplitter(std::size_t max_line_bytes) : max_(max_line_bytes) {}

  // Calls `on_line(std::string_view)` for every line `chunk` completes, in order. Returns
  // false (and forgets the partial line) once the line still open exceeds max_line_bytes;
  // the caller is expected to stop reading then.
  template <class OnLine>
  bool feed(std::string_view chunk, OnLine&& on_line) {
    std::size_t start = 0;
    for (;;) {
      auto nl = chunk.find('\n', start);
      if (nl == std::string_view::npos) break;
      if (partial_.empty()) {
        emit(chunk.substr(start, nl - start), on_line);
      } else {
        partial_.append(chunk.substr(start, nl - start));
        emit(partial_, on_line);
        partial_.clear();
      }
      start = nl + 1;
    }
    partial_.append(chunk.substr(start));
    if (partial_.size() <= max_) return true;
    partial_.clear();
    partial_.shrink_to_fit();
    return false;
  }

 private:
  template <class OnLine>
  static void emit(std::string_view line, OnLine& on_line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    on_line(line);
  }

  std::size_t max_;
  std::string partial_;  // the line still open at the end of the last chunk
};

}  // namespace mcpd::transport
