// The stateless era's wire rules without a server: the envelope, reading server/discover, and
// reading results (resultType unwrapped, input_required and a missing capability as errors).
#include "mcp/lifecycle.hpp"
#include "mcp/stateless_era.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace mcpd;
using namespace mcpd::mcp;

TEST_CASE("the envelope goes into params._meta beside what is there") {
  Json params = {{"name", "echo"}, {"_meta", {{"progressToken", "t1"}}}};
  stamp_envelope(params, "2026-07-28");
  const Json& meta = params["_meta"];
  CHECK(meta["progressToken"] == "t1");
  CHECK(meta["io.modelcontextprotocol/protocolVersion"] == "2026-07-28");
  CHECK(meta["io.modelcontextprotocol/clientCapabilities"] == Json::object());
  CHECK(meta["io.modelcontextprotocol/clientInfo"]["name"] == "mcpd");
  Json none;  // a request without params gets some
  stamp_envelope(none, "2026-07-28");
  CHECK(none["_meta"].contains("io.modelcontextprotocol/protocolVersion"));
}

TEST_CASE("a DiscoverResult opens in the newest revision both sides speak") {
  Json r = {{"resultType", "complete"},
            {"supportedVersions", {"2025-11-25", "2026-07-28"}},
            {"capabilities", {{"tools", Json::object()}}},
            {"instructions", "be nice"},
            {"_meta", {{"io.modelcontextprotocol/serverInfo", {{"name", "s"}, {"version", "2"}}}}}};
  auto d = read_discover_result(r);
  REQUIRE(d);
  REQUIRE(d->ok());
  CHECK(d->value().protocol_version == "2026-07-28");
  CHECK(d->value().server_info["name"] == "s");
  CHECK(d->value().instructions == "be nice");

  auto future_only = read_discover_result({{"supportedVersions", {"2099-01-01"}}, {"capabilities", Json::object()}});
  REQUIRE(future_only);
  REQUIRE_FALSE(future_only->ok());
  CHECK_THAT(future_only->error().message, Catch::Contains("2099-01-01") && Catch::Contains("2026-07-28"));

  CHECK_FALSE(read_discover_result(Json::object()));  // not a DiscoverResult: try initialize
}

TEST_CASE("results are unwrapped - input_required and missing capabilities are errors") {
  auto complete = settle_stateless_answer("tools/call", Json{{"resultType", "complete"}, {"content", Json::array()}});
  REQUIRE(complete.ok());
  CHECK_FALSE(complete.value().contains("resultType"));

  auto older = settle_stateless_answer("tools/list", Json{{"tools", Json::array()}});
  REQUIRE(older.ok());  // no resultType: complete

  Json ask = {{"resultType", "input_required"},
              {"inputRequests", {{"k", {{"method", "sampling/createMessage"}, {"params", Json::object()}}}}}};
  auto input = settle_stateless_answer("tools/call", ask);
  REQUIRE_FALSE(input.ok());
  CHECK(input.error().code == Errc::tool_error);
  CHECK_THAT(input.error().message, Catch::Contains("sampling/createMessage"));

  auto state_only = settle_stateless_answer("tools/call", Json{{"resultType", "input_required"}, {"requestState", "x"}});
  REQUIRE_FALSE(state_only.ok());
  CHECK(state_only.error().code == Errc::tool_error);

  auto missing = settle_stateless_answer("tools/call", make_error(Errc::internal, "Cannot request input", -32021));
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == Errc::tool_error);
  CHECK_THAT(missing.error().message, Catch::Contains("needs input") && Catch::Contains("Cannot request input"));

  auto odd = settle_stateless_answer("tools/call", Json{{"resultType", "later"}});
  REQUIRE_FALSE(odd.ok());
  CHECK(odd.error().code == Errc::internal);
}
