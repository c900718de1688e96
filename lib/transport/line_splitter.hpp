// LineSplitter: the framing of a stdio MCP server's stdout, one JSON-RPC message per line. Fed
// the stream in chunks of any size, it hands out each complete line ('\n' ends it; a '\r'
// before the '\n' is dropped). A line longer than max_line_bytes is never buffered whole:
// the rest of it is skipped, and only its first and last bytes and its length are handed out
// when it ends (enough to tell which request it answered), so a server that writes huge or
// endless lines cannot grow our memory.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

namespace mcpd::transport {

// A line over the bound, as much of it as is kept.
struct OversizedLine {
  std::string head, tail;  // its first and last kKeep bytes
  std::size_t bytes = 0;   // its whole length (without the '\n')
  static constexpr std::size_t kKeep = 512;
};

class LineSplitter {
 public:
  explicit LineSplitter(std::size_t max_line_bytes) : max_(max_line_bytes) {}

  // Calls `on_line(std::string_view)` for every line `chunk` completes, in order, and
  // `on_oversized(OversizedLine&&)` in its place for a line over the bound.
  template <class OnLine, class OnOversized>
  void feed(std::string_view chunk, OnLine&& on_line, OnOversized&& on_oversized) {
    while (!chunk.empty()) {
      const auto nl = chunk.find('\n');
      const bool ends = nl != std::string_view::npos;
      const std::string_view piece = chunk.substr(0, ends ? nl : chunk.size());
      chunk.remove_prefix(ends ? nl + 1 : chunk.size());
      if (skipping_) {
        skip(piece);
      } else if (partial_.size() + piece.size() > max_) {
        // Over the bound: keep its ends, forget the middle.
        big_.head = partial_.substr(0, OversizedLine::kKeep);
        if (big_.head.size() < OversizedLine::kKeep)
          big_.head.append(piece.substr(0, OversizedLine::kKeep - big_.head.size()));
        skip(partial_);
        skip(piece);
        partial_.clear();
        partial_.shrink_to_fit();
        skipping_ = true;
      } else if (ends && partial_.empty()) {
        emit(piece, on_line);  // the common case: a whole line within one chunk, no copy
        continue;
      } else {
        partial_.append(piece);
      }
      if (!ends) continue;
      if (skipping_) {
        skipping_ = false;
        if (!big_.tail.empty() && big_.tail.back() == '\r') big_.tail.pop_back();
        on_oversized(std::exchange(big_, OversizedLine{}));
      } else {
        emit(partial_, on_line);
        partial_.clear();
      }
    }
  }

 private:
  template <class OnLine>
  static void emit(std::string_view line, OnLine& on_line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    on_line(line);
  }
  void skip(std::string_view piece) {
    big_.bytes += piece.size();
    if (piece.size() >= OversizedLine::kKeep) {
      big_.tail.assign(piece.substr(piece.size() - OversizedLine::kKeep));
    } else {
      big_.tail.append(piece);
      if (big_.tail.size() > OversizedLine::kKeep) big_.tail.erase(0, big_.tail.size() - OversizedLine::kKeep);
    }
  }

  std::size_t max_;
  std::string partial_;  // the line still open at the end of the last chunk
  bool skipping_ = false;
  OversizedLine big_;    // while skipping: the oversized line so far
};

}  // namespace mcpd::transport
