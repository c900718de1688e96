#include "transport/http/sse_parser.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>

namespace mcpd::transport::http {

namespace {
constexpr std::uint64_t kMaxRetryMs = 24ull * 3600 * 1000;  // a day: anything longer is a typo
}  // namespace

bool SseParser::feed(std::string_view chunk, const Sink& sink) {
  if (overflowed_) return false;
  if (skip_lf_ && !chunk.empty()) {
    skip_lf_ = false;
    if (chunk.front() == '\n') chunk.remove_prefix(1);
  }
  // A byte-order mark may open the stream (and only the stream); it is not part of a field.
  if (!bom_checked_) {
    partial_.append(chunk);
    if (partial_.size() < 3 && std::string_view("\xEF\xBB\xBF").substr(0, partial_.size()) == partial_) return true;
    bom_checked_ = true;
    if (partial_.rfind("\xEF\xBB\xBF", 0) == 0) partial_.erase(0, 3);
    std::string pending = std::move(partial_);
    partial_.clear();
    return feed(pending, sink);
  }
  std::size_t start = 0;
  while (start < chunk.size()) {
    std::size_t end = chunk.find_first_of("\r\n", start);
    if (end == std::string_view::npos) break;
    std::string_view piece = chunk.substr(start, end - start);
    bool ok;
    if (partial_.empty()) {
      ok = line(piece, sink);
    } else {
      partial_.append(piece);
      ok = line(partial_, sink);
      partial_.clear();
    }
    if (!ok) return false;
    // CRLF is one line break; a CR at the very end of the chunk may still be followed by LF.
    if (chunk[end] == '\r') {
      if (end + 1 < chunk.size()) {
        if (chunk[end + 1] == '\n') ++end;
      } else {
        skip_lf_ = true;
      }
    }
    start = end + 1;
  }
  partial_.append(chunk.substr(start));
  if (partial_.size() > max_bytes_) {
    overflowed_ = true;
    partial_.clear();
    return false;
  }
  return true;
}

bool SseParser::line(std::string_view l, const Sink& sink) {
  if (l.empty()) {  // a blank line dispatches the event gathered so far
    // The id takes effect here, even for an event without data (a "priming" event).
    last_id_ = id_buffer_;
    has_id_ = has_id_buffer_;
    if (data_.empty()) {
      type_.clear();
      return true;
    }
    SseEvent ev;
    data_.pop_back();  // the '\n' appended after the last data line
    ev.data = std::move(data_);
    ev.type = type_.empty() ? "message" : std::move(type_);
    ev.id = last_id_;
    data_.clear();
    type_.clear();
    sink(std::move(ev));
    return true;
  }
  if (l.front() == ':') return true;  // a comment (servers send them as keep-alives)
  std::string_view name = l, value;
  if (auto colon = l.find(':'); colon != std::string_view::npos) {
    name = l.substr(0, colon);
    value = l.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  if (name == "data") {
    if (data_.size() + value.size() + 1 > max_bytes_) {
      overflowed_ = true;
      data_.clear();
      return false;
    }
    data_.append(value);
    data_.push_back('\n');
  } else if (name == "event") {
    type_.assign(value);
  } else if (name == "id") {
    if (value.find('\0') == std::string_view::npos) {  // the rules ignore an id holding NUL
      id_buffer_.assign(value);
      has_id_buffer_ = true;
    }
  } else if (name == "retry") {
    std::uint64_t ms = 0;
    auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), ms);
    if (!value.empty() && ec == std::errc() && p == value.data() + value.size())
      retry_ = std::chrono::milliseconds(static_cast<std::chrono::milliseconds::rep>(std::min<std::uint64_t>(ms, kMaxRetryMs)));
  }
  // Any other field name is ignored, as the rules say.
  return true;
}

}  // namespace mcpd::transport::http
