// Protocol helpers: version negotiation facts and the compat reply format.
#include "mcp/protocol.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace mcpd::mcp;

TEST_CASE("the handshake-era revisions are supported - newest first - 2024-11-05 included") {
  CHECK(kLatestProtocolVersion == "2025-11-25");
  CHECK(is_supported_protocol_version("2025-06-18"));
  CHECK(is_supported_protocol_version("2025-03-26"));
  CHECK(is_supported_protocol_version("2024-11-05"));
  CHECK_FALSE(is_supported_protocol_version("2024-10-07"));
  CHECK_FALSE(is_supported_protocol_version("2026-07-28"));  // not through initialize
  CHECK(supported_protocol_versions() == "2026-07-28, 2025-11-25, 2025-06-18, 2025-03-26, 2024-11-05");
}

TEST_CASE("revisions from 2026-07-28 on are of the stateless era") {
  CHECK(is_stateless_protocol_version("2026-07-28"));
  CHECK(is_stateless_protocol_version("2027-01-01"));
  CHECK_FALSE(is_stateless_protocol_version("2025-11-25"));
  CHECK_FALSE(is_stateless_protocol_version(""));
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
