// SseParser: the server-sent-events field rules (data, event, id, retry, comments, unknown
// fields), line breaks of every kind, and chunk boundaries anywhere in the stream.
#include "transport/http/sse_parser.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using mcpd::transport::http::SseEvent;
using mcpd::transport::http::SseParser;

namespace {

std::vector<SseEvent> parse_chunks(const std::vector<std::string>& chunks, SseParser& p) {
  std::vector<SseEvent> out;
  for (const auto& c : chunks) p.feed(c, [&](SseEvent&& e) { out.push_back(std::move(e)); });
  return out;
}

std::vector<SseEvent> parse(const std::string& stream) {
  SseParser p;
  return parse_chunks({stream}, p);
}

bool same(const std::vector<SseEvent>& a, const std::vector<SseEvent>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i].type != b[i].type || a[i].data != b[i].data || a[i].id != b[i].id) return false;
  return true;
}

}  // namespace

TEST_CASE("sse: one event - the type defaults to message") {
  auto ev = parse("data: {\"jsonrpc\":\"2.0\"}\n\n");
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].type == "message");
  CHECK(ev[0].data == "{\"jsonrpc\":\"2.0\"}");
  CHECK(ev[0].id.empty());
}

TEST_CASE("sse: event - id and retry fields") {
  SseParser p;
  auto ev = parse_chunks({"event: endpoint\nid: 42\nretry: 2500\ndata: /message?sessionId=abc\n\n"}, p);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].type == "endpoint");
  CHECK(ev[0].data == "/message?sessionId=abc");
  CHECK(ev[0].id == "42");
  CHECK(p.last_event_id() == "42");
  CHECK(p.has_event_id());
  REQUIRE(p.retry());
  CHECK(p.retry()->count() == 2500);
}

TEST_CASE("sse: the event type resets after each event - the id persists") {
  auto ev = parse("event: a\nid: 1\ndata: x\n\ndata: y\n\n");
  REQUIRE(ev.size() == 2);
  CHECK(ev[0].type == "a");
  CHECK(ev[1].type == "message");
  CHECK(ev[1].id == "1");
}

TEST_CASE("sse: retry must be ASCII digits only") {
  for (const char* bad : {"retry: 10a\n\n", "retry: -1\n\n", "retry:  5\n\n", "retry:\n\n", "retry: 1.5\n\n"}) {
    SseParser p;
    parse_chunks({bad}, p);
    CHECK_FALSE(p.retry());
  }
  SseParser p;
  parse_chunks({"retry:0\n\n"}, p);
  REQUIRE(p.retry());
  CHECK(p.retry()->count() == 0);
}

TEST_CASE("sse: multi-line data is joined with newlines") {
  auto ev = parse("data: first\ndata: second\ndata:\ndata: fourth\n\n");
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].data == "first\nsecond\n\nfourth");
}

TEST_CASE("sse: comments and unknown fields are ignored") {
  auto ev = parse(": keep-alive\nfoo: bar\ndata: x\n: another\n\n:\n\n");
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].data == "x");
}

TEST_CASE("sse: only one space after the colon is removed - a field without a colon is empty") {
  auto ev = parse("data:  two spaces\n\ndata\n\ndata:no space\n\ndata: a:b: c\n\n");
  REQUIRE(ev.size() == 4);
  CHECK(ev[0].data == " two spaces");
  CHECK(ev[1].data == "");  // a bare `data` still dispatches an (empty) event
  CHECK(ev[2].data == "no space");
  CHECK(ev[3].data == "a:b: c");
}

TEST_CASE("sse: an event without data is not dispatched but its id takes effect") {
  SseParser p;
  auto ev = parse_chunks({"id: prime-1\ndata: \n\nid: 7\n\n"}, p);
  // `data: ` (empty value) is still data: the priming event of the SDK servers dispatches empty.
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].data.empty());
  CHECK(ev[0].id == "prime-1");
  CHECK(p.last_event_id() == "7");
}

TEST_CASE("sse: LF - CRLF - CR and mixed line breaks") {
  std::vector<SseEvent> expected = parse("event: e\ndata: 1\ndata: 2\n\ndata: 3\n\n");
  REQUIRE(expected.size() == 2);
  CHECK(same(parse("event: e\r\ndata: 1\r\ndata: 2\r\n\r\ndata: 3\r\n\r\n"), expected));
  CHECK(same(parse("event: e\rdata: 1\rdata: 2\r\rdata: 3\r\r"), expected));
  CHECK(same(parse("event: e\r\ndata: 1\rdata: 2\n\r\ndata: 3\r\r\n"), expected));
}

TEST_CASE("sse: chunk boundaries anywhere give the same events") {
  const std::string stream =
      "\xEF\xBB\xBF: hello\r\nevent: message\r\nid: 1\r\ndata: {\"a\":\"\xC3\xA9\"}\r\n\r\n"
      "retry: 300\rdata: line1\rdata: line2\r\rid: 2\ndata: z\n\n";
  const auto whole = parse(stream);
  REQUIRE(whole.size() == 3);
  CHECK(whole[0].data == "{\"a\":\"\xC3\xA9\"}");
  CHECK(whole[1].data == "line1\nline2");
  CHECK(whole[2].id == "2");
  // Every split into two chunks, and one byte at a time.
  for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
    SseParser p;
    auto ev = parse_chunks({stream.substr(0, cut), stream.substr(cut)}, p);
    INFO("cut at " << cut);
    CHECK(same(ev, whole));
    CHECK(p.retry()->count() == 300);
    CHECK(p.last_event_id() == "2");
  }
  SseParser p;
  std::vector<std::string> bytes;
  for (char c : stream) bytes.emplace_back(1, c);
  CHECK(same(parse_chunks(bytes, p), whole));
  // Every split into three chunks around the CR LF pairs.
  for (std::size_t a = 0; a < 40; ++a)
    for (std::size_t b = a; b < 60; ++b) {
      SseParser q;
      CHECK(same(parse_chunks({stream.substr(0, a), stream.substr(a, b - a), stream.substr(b)}, q), whole));
    }
}

TEST_CASE("sse: a byte-order mark is skipped only at the start") {
  auto ev = parse("\xEF\xBB\xBF" "data: x\n\n");
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].data == "x");
  SseParser p;
  auto split = parse_chunks({"\xEF", "\xBB", "\xBF" "da", "ta: y\n\n"}, p);
  REQUIRE(split.size() == 1);
  CHECK(split[0].data == "y");
  // Later, the same bytes are data.
  auto later = parse("data: a\n\ndata: \xEF\xBB\xBF" "b\n\n");
  REQUIRE(later.size() == 2);
  CHECK(later[1].data == "\xEF\xBB\xBF" "b");
  // A stream that does not start with a BOM but with its first byte's look-alike.
  auto ef = parse("\xEF" "data\n\n");
  CHECK(ef.empty());  // the field name is "\xEF" "data": unknown, ignored
}

TEST_CASE("sse: an incomplete event at the end is not dispatched") {
  SseParser p;
  auto ev = parse_chunks({"id: 1\ndata: done\n\nid: 2\ndata: cut off"}, p);
  REQUIRE(ev.size() == 1);
  CHECK(p.last_event_id() == "1");  // the cut event's id never took effect
}

TEST_CASE("sse: an id holding NUL is ignored") {
  SseParser p;
  const char raw[] = "id: ok\ndata: a\n\nid: b\0d\ndata: b\n\n";
  auto ev = parse_chunks({std::string(raw, sizeof(raw) - 1)}, p);
  REQUIRE(ev.size() == 2);
  CHECK(ev[1].id == "ok");
}

TEST_CASE("sse: an event or line over the limit stops the parser") {
  SseParser p(64);
  bool ok = true;
  std::size_t events = 0;
  ok = p.feed("data: small\n\n", [&](SseEvent&&) { ++events; });
  CHECK(ok);
  CHECK(events == 1);
  ok = p.feed("data: " + std::string(40, 'x') + "\ndata: " + std::string(40, 'y') + "\n\n", [&](SseEvent&&) { ++events; });
  CHECK_FALSE(ok);
  CHECK(p.overflowed());
  CHECK(events == 1);
  SseParser q(64);
  CHECK_FALSE(q.feed(std::string(100, 'z'), [](SseEvent&&) {}));  // one line that never ends
  CHECK_FALSE(q.feed("\n\n", [](SseEvent&&) {}));
}
