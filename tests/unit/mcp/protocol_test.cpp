// Protocol helpers: version negotiation facts and the compat reply format.
#include "mcp/protocol.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace mcpd::mcp;

TEST_CASE("the three legacy-era revisions are supported - newest first") {
  CHECK(kLatestProtocolVersion == "2025-11-25");
  CHECK(is_supported_protocol_version("2025-06-18"));
  CHECK(is_supported_protocol_version("2025-03-26"));
  CHECK_FALSE(is_supported_protocol_version("2024-11-05"));
  CHECK(supported_protocol_versions() == "2025-11-25, 2025-06-18, 2025-03-26");
}

TEST_CASE("compat format joins text content - prefers structuredContent - and detects isError") {
  Json text = {{"content", {{{"type", "text"}, {"text", "a"}}, {{"type", "image"}, {"data", "x"}, {"mimeType", "image/png"}}, {{"type", "text"}, {"text", "b"}}}}};
  CHECK(compat_result(text) == "a\nb");
  CHECK_FALSE(is_tool_error(text));
  Json structured = {{"content", {{{"type", "text"}, {"text", "{}"}}}}, {"structuredContent", {{"sum", 3}}}};
  CHECK(compat_result(structured) == Json{{"sum", 3}});
  Json failed = {{"content", {{{"type", "text"}, {"text", "boom"}}}}, {"isError", true}};
  CHECK(is_tool_error(failed));
  CHECK(result_text(failed) == "boom");
  CHECK(compat_result(Json::object()) == "");
}
