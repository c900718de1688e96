// json::parse and json::parse_pruned: documents up to the depth bound parse as nlohmann would
// parse them, deeper ones are refused (or pruned) however deep they go, and nothing accepted
// is deeper than the bound, so dumping it recurses at most that far.
#include "common/json_limits.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

using namespace mcpd;
using Json = nlohmann::json;

namespace {

std::string arrays(std::size_t levels, const std::string& inner = "") {
  return std::string(levels, '[') + inner + std::string(levels, ']');
}

// {"a":{"a":...[1]...}}: objects and arrays alternating, `levels` containers in all.
std::string mixed(std::size_t levels) {
  std::string open, close;
  for (std::size_t i = 0; i < levels; ++i) {
    open += i % 2 ? "[" : "{\"a\":";
    close.insert(0, i % 2 ? "]" : "}");
  }
  return open + "1" + close;
}

}  // namespace

TEST_CASE("json limits: documents within the bound parse exactly as nlohmann parses them") {
  for (const std::string& text : std::vector<std::string>{"1", "\"s\"", "null", "[]", "{}",
                                                          R"({"a":[1,2,{"b":null}],"c":"d","a":3})",
                                                          " [ 1.5 , -2 , true ] ", arrays(8), mixed(8)}) {
    auto r = json::parse(text, 8);
    REQUIRE(r.ok());
    CHECK(r.value() == Json::parse(text));
    bool pruned = true;
    auto p = json::parse_pruned(text, 8, pruned);
    REQUIRE(p.ok());
    CHECK_FALSE(pruned);
    CHECK(p.value() == Json::parse(text));
  }
}

TEST_CASE("json limits: one level more than the bound is refused with the one message") {
  CHECK(json::parse(arrays(96), 96).ok());
  auto r = json::parse(arrays(97), 96);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::invalid_request);
  CHECK(r.error().message == "JSON nesting deeper than 96 levels");
  CHECK(json::parse(mixed(97), 96).error().message == "JSON nesting deeper than 96 levels");
}

TEST_CASE("json limits: a document 100000 deep is refused without recursing") {
  for (const std::string& text : std::vector<std::string>{arrays(100000), mixed(100000), std::string(100000, '[')}) {
    auto r = json::parse(text, json::kDefaultMaxDepth);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message == json::too_deep_message(json::kDefaultMaxDepth));
  }
}

TEST_CASE("json limits: text that is not JSON keeps the parser's message") {
  for (const std::string& text : std::vector<std::string>{"", "{", "[1,]", "{\"a\" 1}", "1 2", "nul"}) {
    auto r = json::parse(text, 8);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::invalid_request);
    CHECK_THAT(r.error().message, Catch::StartsWith("[json.exception.parse_error"));
  }
  // Unterminated and too deep: the depth is what is reported (parsing stops there).
  CHECK(json::parse(std::string(20, '['), 8).error().message == "JSON nesting deeper than 8 levels");
}

TEST_CASE("json limits: pruning keeps the envelope and replaces what is too deep by null") {
  bool pruned = false;
  const std::string text = R"({"jsonrpc":"2.0","id":7,"result":{"x":)" + arrays(100000, "1") + R"(,"y":[2]}})";
  auto p = json::parse_pruned(text, 3, pruned);
  REQUIRE(p.ok());
  CHECK(pruned);
  CHECK(p.value() == Json::parse(R"({"jsonrpc":"2.0","id":7,"result":{"x":[null],"y":[2]}})"));
  // Still not JSON when the syntax breaks under a pruned part.
  CHECK_FALSE(json::parse_pruned(R"({"a":[[[[1,}]]]})", 2, pruned).ok());
}

TEST_CASE("json limits: nothing accepted or pruned is deeper than the bound so dump recurses at most that far") {
  constexpr std::size_t kBound = 32;
  for (std::size_t levels = 0; levels <= kBound + 8; ++levels) {
    const std::string member = R"({"k":)" + arrays(levels, "2") + "}";
    for (const std::string& text : std::vector<std::string>{arrays(levels, "1"), mixed(levels), member}) {
      auto r = json::parse(text, kBound);
      if (r.ok()) {
        CHECK(json::depth_of(r.value()) <= kBound);
        CHECK(Json::parse(r.value().dump()) == r.value());  // round trip through dump()
      } else {
        CHECK(json::depth_of(Json::parse(text)) > kBound);
      }
      bool pruned = false;
      auto p = json::parse_pruned(text, kBound, pruned);
      REQUIRE(p.ok());
      CHECK(json::depth_of(p.value()) <= kBound);
      CHECK(pruned == !r.ok());
    }
  }
  CHECK(json::depth_of(Json(1)) == 0);
  CHECK(json::depth_of(Json::parse(R"({"a":[1,{"b":[]}],"c":{}})")) == 4);
}
