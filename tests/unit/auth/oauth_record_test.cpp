// The server record's auth {"type":"oauth"}: what parses, what is refused and why, round trips.
#include "catalog/server_config.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace mcpd::catalog;
using Json = nlohmann::json;

namespace {
Json http_record(Json auth) {
  return Json{{"name", "remote"}, {"transport", "http"}, {"url", "https://mcp.example.com/mcp"}, {"auth", std::move(auth)}};
}
std::string error_of(const Json& auth) {
  auto r = parse_server_config(http_record(auth));
  return r.ok() ? std::string() : r.error().message;
}
}  // namespace

TEST_CASE("an oauth record with a pre-registered client round-trips") {
  auto r = parse_server_config(http_record({{"type", "oauth"}, {"clientId", "mcpd-prod"},
                                            {"clientSecretEnv", "MCPD_SECRET_OAUTH"}, {"scopes", {"mcp:tools"}},
                                            {"tokenEndpointAuthMethod", "client_secret_post"}}));
  REQUIRE(r.ok());
  REQUIRE(r->auth);
  CHECK(r->auth->type == AuthType::oauth);
  CHECK(r->auth->client_id == "mcpd-prod");
  CHECK(r->auth->token_env == "MCPD_SECRET_OAUTH");
  CHECK(r->auth->scopes == std::vector<std::string>{"mcp:tools"});
  Json back = to_json(r.value());
  CHECK(back["auth"]["clientSecretEnv"] == "MCPD_SECRET_OAUTH");
  CHECK_FALSE(back["auth"].contains("tokenEnv"));
  auto again = parse_server_config(back);
  REQUIRE(again.ok());
  CHECK(again.value() == r.value());
}

TEST_CASE("an oauth record without a client registers one") {
  auto r = parse_server_config(http_record({{"type", "oauth"}}));
  REQUIRE(r.ok());
  CHECK(r->auth->client_id.empty());
  CHECK(to_json(r.value())["auth"] == Json{{"type", "oauth"}});
}

TEST_CASE("oauth records that cannot work are refused with the reason") {
  CHECK(error_of({{"type", "oauth"}, {"clientSecret", "s3cret"}}).find("auth.clientSecret: a literal secret is not accepted") != std::string::npos);
  CHECK(error_of({{"type", "oauth"}, {"tokenEnv", "X"}}).find("clientSecretEnv") != std::string::npos);
  CHECK(error_of({{"type", "bearer"}, {"tokenEnv", "X"}, {"clientId", "c"}}).find("applies to auth type 'oauth'") != std::string::npos);
  CHECK(error_of({{"type", "oauth"}, {"clientSecretEnv", "MCPD_SECRET_X"}}).find("needs its clientId") != std::string::npos);
  CHECK(error_of({{"type", "oauth"}, {"clientId", "c"}, {"clientSecretEnv", "A"}, {"clientSecretFile", "b"}})
            .find("at most one") != std::string::npos);
  CHECK(error_of({{"type", "oauth"}, {"scopes", "a b"}}).find("expected an array") != std::string::npos);
  CHECK(error_of({{"type", "oauth"}, {"scopes", {"a b"}}}).find("one non-empty word") != std::string::npos);
  CHECK(error_of({{"type", "oauth"}, {"tokenEndpointAuthMethod", "magic"}}).find("expected one of") != std::string::npos);
  CHECK(error_of({{"type", "oauth"}, {"clientId", "c"}, {"tokenEndpointAuthMethod", "client_secret_basic"}})
            .find("needs the client's secret") != std::string::npos);
  CHECK(error_of({{"type", "kerberos"}}).find("expected 'bearer' or 'oauth'") != std::string::npos);
  CHECK(error_of({{"type", "oauth"}, {"color", "red"}}).find("known fields: type, clientId") != std::string::npos);
  Json sse = http_record({{"type", "oauth"}});
  sse["transport"] = "sse";
  auto r = parse_server_config(sse);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("transport 'http'") != std::string::npos);
}
