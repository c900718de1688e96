// Fuzz target: transport::http::SseParser, the text/event-stream parser of both HTTP
// transports. Input: byte 0 picks the event size bound and the chunk sizes, the rest is the
// stream. Properties: nothing crashes; no event is larger than the bound; and unless the bound
// was hit, feeding the stream in pieces (ending anywhere: inside a field, a UTF-8 sequence,
// between CR and LF) gives exactly what feeding it whole gives — the events, the last event
// id and the retry delay.
#include "fuzz_support.hpp"
#include "transport/http/sse_parser.hpp"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

using namespace mcpd;
using fuzz::check;
using transport::http::SseEvent;
using transport::http::SseParser;

namespace {

struct Outcome {
  std::vector<SseEvent> events;
  std::string last_id;
  bool has_id = false;
  std::optional<std::chrono::milliseconds> retry;
  bool overflowed = false;
};

Outcome parse(std::string_view stream, std::size_t max_bytes, unsigned chunk_seed) {
  SseParser p(max_bytes);
  Outcome o;
  auto sink = [&](SseEvent&& ev) {
    check(ev.data.size() <= max_bytes, "an event is within the size bound");
    o.events.push_back(std::move(ev));
  };
  while (!stream.empty()) {
    std::size_t n = stream.size();
    if (chunk_seed != 0) {
      chunk_seed = chunk_seed * 1103515245u + 12345u;
      n = std::min<std::size_t>(n, (chunk_seed >> 16) % 9);  // 0..8 bytes: empty chunks too
    }
    if (!p.feed(stream.substr(0, n), sink)) break;
    stream.remove_prefix(n);
  }
  o.last_id = p.last_event_id();
  o.has_id = p.has_event_id();
  o.retry = p.retry();
  o.overflowed = p.overflowed();
  return o;
}

bool same(const SseEvent& a, const SseEvent& b) { return a.type == b.type && a.data == b.data && a.id == b.id; }

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::quiet_logs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::size_t max_bytes = std::size_t{16} << (data[0] % 8);  // 16 B .. 2 KiB
  const unsigned chunk_seed = 1u + data[0];
  std::string_view stream(reinterpret_cast<const char*>(data) + 1, size - 1);

  Outcome whole = parse(stream, max_bytes, 0);
  Outcome pieces = parse(stream, max_bytes, chunk_seed);
  if (whole.overflowed || pieces.overflowed) return 0;  // where a stream is cut off may differ
  check(whole.events.size() == pieces.events.size(), "chunking does not change the number of events");
  for (std::size_t i = 0; i < whole.events.size(); ++i)
    check(same(whole.events[i], pieces.events[i]), "chunking does not change an event");
  check(whole.last_id == pieces.last_id && whole.has_id == pieces.has_id, "chunking does not change the last id");
  check(whole.retry == pieces.retry, "chunking does not change the retry delay");
  return 0;
}
