// LineSplitter: stdio framing. Lines split across chunks of any size come out whole, CRLF is
// one line end, and a line left open past the bound is refused and forgotten.
#include "transport/line_splitter.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using mcpd::transport::LineSplitter;

namespace {

std::vector<std::string> split(const std::string& stream, std::size_t chunk, std::size_t max = 1024) {
  LineSplitter s(max);
  std::vector<std::string> out;
  for (std::size_t i = 0; i < stream.size(); i += chunk)
    REQUIRE(s.feed(std::string_view(stream).substr(i, chunk), [&](std::string_view l) { out.emplace_back(l); }));
  return out;
}

}  // namespace

TEST_CASE("line splitter: lines come out whole whatever the chunk size") {
  const std::string stream = "{\"a\":1}\r\n\n{\"b\":2}\nx\r\r\nopen";
  const std::vector<std::string> want = {"{\"a\":1}", "", "{\"b\":2}", "x\r"};
  for (std::size_t chunk = 1; chunk <= stream.size(); ++chunk) CHECK(split(stream, chunk) == want);
}

TEST_CASE("line splitter: a line left open past the bound is refused and forgotten") {
  LineSplitter s(8);
  std::vector<std::string> out;
  auto sink = [&](std::string_view l) { out.emplace_back(l); };
  CHECK(s.feed("12345678", sink));   // at the bound: still fine
  CHECK_FALSE(s.feed("9", sink));    // one byte more
  CHECK(s.feed("ok\n", sink));       // the partial line is gone
  CHECK(out == std::vector<std::string>{"ok"});
  // A long line that ends within one chunk is not "open": it is handed out.
  CHECK(s.feed(std::string(100, 'y') + "\n", sink));
  CHECK(out.back().size() == 100);
}
