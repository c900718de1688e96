// append_json_escaped: whatever bytes go in, what comes out is the inside of a valid JSON string
// and valid UTF-8 — valid UTF-8 kept as it is, every other byte visible as \xNN.
#include "common/text.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <string>

using namespace mcpd;

namespace {
std::string escaped(std::string_view s) {
  std::string out;
  append_json_escaped(out, s);
  return out;
}
// What a JSON parser reads back from the escaped text (it refuses invalid UTF-8).
std::string round_trip(std::string_view s) { return nlohmann::json::parse("\"" + escaped(s) + "\"").get<std::string>(); }
}  // namespace

TEST_CASE("json escaping keeps valid UTF-8 and escapes quotes controls and stray bytes") {
  CHECK(escaped("plain") == "plain");
  CHECK(escaped("a\"b\\c\nd\te\r") == "a\\\"b\\\\c\\nd\\te\\r");
  CHECK(escaped(std::string("\x01\x1f\x7f", 3)) == "\\u0001\\u001f\\u007f");
  CHECK(round_trip("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80") == "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
  // A lone continuation byte, a cut-off sequence, an overlong form, a surrogate, beyond U+10FFFF.
  CHECK(round_trip("x\xff y") == "x\\xff y");
  CHECK(round_trip("\x80") == "\\x80");
  CHECK(round_trip("\xe2\x82") == "\\xe2\\x82");
  CHECK(round_trip("\xc0\xaf") == "\\xc0\\xaf");
  CHECK(round_trip("\xed\xa0\x80") == "\\xed\\xa0\\x80");
  CHECK(round_trip("\xf4\x90\x80\x80") == "\\xf4\\x90\\x80\\x80");
  CHECK(round_trip(std::string("nul\0here", 8)) == std::string("nul\0here", 8));
}

TEST_CASE("utf8_prefix cuts on a character boundary") {
  const std::string s = "ab\xc3\xa9\xe2\x82\xac";  // "abé€": 2 + 2 + 3 bytes
  CHECK(utf8_prefix(s, 100) == s);
  CHECK(utf8_prefix(s, 7) == s);
  CHECK(utf8_prefix(s, 6) == "ab\xc3\xa9");  // not half of the euro sign
  CHECK(utf8_prefix(s, 5) == "ab\xc3\xa9");
  CHECK(utf8_prefix(s, 4) == "ab\xc3\xa9");
  CHECK(utf8_prefix(s, 3) == "ab");  // not half of the e acute
  CHECK(utf8_prefix(s, 0) == "");
}
