// SseParser: an incremental parser of a text/event-stream body, as the HTML "server-sent
// events" rules define it. Feed it the body in chunks of any size (a chunk may end inside a
// field, a line, a UTF-8 sequence or between the CR and LF of a line break); it calls back
// once per dispatched event. It keeps the stream's state a reconnecting client needs: the last
// event id and the reconnection delay the server asked for with `retry:`.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace mcpd::transport::http {

struct SseEvent {
  std::string type = "message";  // the `event:` field, "message" when absent
  std::string data;              // every `data:` line joined with '\n'
  std::string id;                // the last event id in force when the event was dispatched
};

class SseParser {
 public:
  // Called from inside feed(), on the caller's thread, once per complete event.
  using Sink = std::function<void(SseEvent&& event)>;

  // `max_event_bytes` bounds one event's data (and one line): a stream that never ends a line
  // or an event would otherwise grow without limit.
  explicit SseParser(std::size_t max_event_bytes = 256u << 20) : max_bytes_(max_event_bytes) {}

  // Parses `chunk`, calling `sink` for each complete event. Returns false (and ignores the
  // rest of the stream) once an event or a line exceeds the limit.
  bool feed(std::string_view chunk, const Sink& sink);

  // The id of the last event dispatched (`id:`), kept across events; a reconnecting client
  // sends it back as Last-Event-ID. An event still incomplete when the stream ends is ignored.
  const std::string& last_event_id() const { return last_id_; }
  bool has_event_id() const { return has_id_; }
  // The reconnection delay the server asked for, if it did.
  std::optional<std::chrono::milliseconds> retry() const { return retry_; }
  bool overflowed() const { return overflowed_; }

 private:
  bool line(std::string_view l, const Sink& sink);

  std::size_t max_bytes_;
  std::string partial_;          // an unterminated line carried over to the next chunk
  bool skip_lf_ = false;         // the previous chunk ended with CR: a leading LF belongs to it
  bool bom_checked_ = false;
  std::string data_;
  std::string type_;
  std::string id_buffer_;        // the latest `id:` field, in force from the next dispatch
  bool has_id_buffer_ = false;
  std::string last_id_;
  bool has_id_ = false;
  std::optional<std::chrono::milliseconds> retry_;
  bool overflowed_ = false;
};

}  // namespace mcpd::transport::http
