// LineSplitter: stdio framing. Lines split across chunks of any size come out whole, CRLF is
// one line end, and a line over the bound comes out as its ends and length, never buffered
// whole. inspect_oversized: what such a line is, from its ends.
#include "transport/line_splitter.hpp"
#include "transport/oversized.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using mcpd::transport::LineSplitter;
using mcpd::transport::OversizedLine;
using mcpd::transport::OversizedMessage;
using mcpd::transport::inspect_oversized;

namespace {

std::vector<std::string> split(const std::string& stream, std::size_t chunk, std::size_t max = 1024) {
  LineSplitter s(max);
  std::vector<std::string> out;
  for (std::size_t i = 0; i < stream.size(); i += chunk)
    s.feed(std::string_view(stream).substr(i, chunk), [&](std::string_view l) { out.emplace_back(l); },
           [&](OversizedLine&& big) { out.push_back("<" + std::to_string(big.bytes) + " bytes>"); });
  return out;
}

}  // namespace

TEST_CASE("line splitter: lines come out whole whatever the chunk size") {
  const std::string stream = "{\"a\":1}\r\n\n{\"b\":2}\nx\r\r\nopen";
  const std::vector<std::string> want = {"{\"a\":1}", "", "{\"b\":2}", "x\r"};
  for (std::size_t chunk = 1; chunk <= stream.size(); ++chunk) CHECK(split(stream, chunk) == want);
}

TEST_CASE("line splitter: a line over the bound comes out as its ends and length whatever the chunk size") {
  const std::string big = "{\"id\":7," + std::string(5000, 'x') + ",\"end\":1}";
  const std::string stream = "ok\n" + big + "\r\nafter\n";
  for (std::size_t chunk : {1ul, 7ul, 100ul, 4096ul, stream.size()}) {
    LineSplitter s(1024);
    std::vector<std::string> lines;
    std::vector<OversizedLine> bigs;
    for (std::size_t i = 0; i < stream.size(); i += chunk) {
      s.feed(std::string_view(stream).substr(i, chunk), [&](std::string_view l) { lines.emplace_back(l); },
             [&](OversizedLine&& b) { bigs.push_back(std::move(b)); });
    }
    INFO("chunk " << chunk);
    CHECK(lines == std::vector<std::string>{"ok", "after"});
    REQUIRE(bigs.size() == 1);
    CHECK(bigs[0].bytes == big.size() + 1);  // the '\r' counts; it is not in the tail
    CHECK(bigs[0].head == big.substr(0, OversizedLine::kKeep));
    CHECK(bigs[0].tail == big.substr(big.size() - (OversizedLine::kKeep - 1)));  // the '\r' was its last byte
  }
  // At the bound exactly: still a line.
  std::string at_bound(1024, 'y'), over(1025, 'y');
  at_bound.push_back('\n');
  over.push_back('\n');
  CHECK(split(at_bound, 3) == std::vector<std::string>{std::string(1024, 'y')});
  CHECK(split(over, 3) == std::vector<std::string>{"<1025 bytes>"});
}

TEST_CASE("oversized messages: answers are told by their id at either end - notifications are told apart") {
  using Kind = OversizedMessage::Kind;
  auto inspect = [](const std::string& msg) {
    return inspect_oversized(std::string_view(msg).substr(0, 64), std::string_view(msg).substr(msg.size() - 64));
  };
  const std::string pad(500, 'p');
  // The id first (nlohmann, most servers) or last (the TypeScript SDK).
  auto first = inspect(R"({"jsonrpc":"2.0","id":42,"result":{"content":[{"type":"text","text":")" + pad + R"("}]}})");
  CHECK(first.kind == Kind::response);
  CHECK(first.id == "42");
  auto last = inspect(R"({"result":{"content":[{"type":"text","text":")" + pad + R"("}]},"jsonrpc":"2.0","id":"a-7"})");
  CHECK(last.kind == Kind::response);
  CHECK(last.id == "\"a-7\"");
  // A nested "id" at the end is not the message's.
  auto nested = inspect(R"({"result":{"x":")" + pad + R"(","y":{"id":3}}})");
  CHECK(nested.kind == Kind::response);
  CHECK_FALSE(nested.id);
  // Notifications and server requests are not answers, even with an id.
  CHECK(inspect(R"({"method":"notifications/message","params":{"data":")" + pad + R"("},"jsonrpc":"2.0"})").kind ==
        Kind::other);
  CHECK(inspect(R"({"jsonrpc":"2.0","id":5,"method":"sampling/createMessage","params":{"x":")" + pad + R"("}})").kind ==
        Kind::other);
  // Garbage tells nothing.
  CHECK(inspect(std::string(600, 'z')).kind == Kind::unknown);
  CHECK(inspect(R"({"jsonrpc":"2.0","id":1,"res)" + pad + "}").kind == Kind::unknown);
}
