// OAuth discovery rules: the WWW-Authenticate challenge, the well-known URLs in the spec's
// order, the resource check, metadata and token answers, scope selection.
#include "auth/discovery.hpp"

#include <catch2/catch.hpp>

using namespace mcpd::auth;
using V = std::vector<std::string>;

TEST_CASE("a Bearer challenge gives resource_metadata scope and error") {
  auto c = parse_www_authenticate(
      R"(Bearer error="insufficient_scope", scope="files:read files:write", resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp")");
  REQUIRE(c);
  CHECK(c->error == "insufficient_scope");
  CHECK(c->scope == "files:read files:write");
  CHECK(c->resource_metadata == "https://mcp.example.com/.well-known/oauth-protected-resource/mcp");
}

TEST_CASE("the Bearer challenge is found among others and with unquoted values") {
  auto c = parse_www_authenticate(R"(Basic realm="x", bearer resource_metadata=https://a.example/m,error=invalid_token)");
  REQUIRE(c);
  CHECK(c->resource_metadata == "https://a.example/m");
  CHECK(c->error == "invalid_token");
  CHECK(c->scope.empty());
  CHECK_FALSE(parse_www_authenticate(R"(Basic realm="x")"));
  CHECK_FALSE(parse_www_authenticate(""));
  auto bare = parse_www_authenticate("Bearer");
  REQUIRE(bare);
  CHECK(bare->resource_metadata.empty());
}

TEST_CASE("a challenge cut inside a quoted value is read to its end without throwing") {
  // Found by the oauth fuzz target: the parser stepped past the end looking for the closing
  // quote, and the next read threw (on the event loop, from a server's 401).
  std::optional<Challenge> c;
  REQUIRE_NOTHROW(c = parse_www_authenticate(R"(Bearer resou="ht)"));
  REQUIRE(c);
  CHECK(c->resource_metadata.empty());
  REQUIRE_NOTHROW(c = parse_www_authenticate(R"(Bearer scope="a b)"));
  REQUIRE(c);
  CHECK(c->scope == "a b");
}

TEST_CASE("escaped quotes inside a quoted value are kept") {
  auto c = parse_www_authenticate(R"(Bearer error_description="say \"hi\"", scope="a")");
  REQUIRE(c);
  CHECK(c->scope == "a");
}

TEST_CASE("protected-resource metadata is looked for at the challenge URL then path-based then root") {
  CHECK(protected_resource_metadata_urls("https://mcp.example.com/public/mcp?x=1", "https://m.example/prm") ==
        V{"https://m.example/prm", "https://mcp.example.com/.well-known/oauth-protected-resource/public/mcp",
          "https://mcp.example.com/.well-known/oauth-protected-resource"});
  CHECK(protected_resource_metadata_urls("http://localhost:3000/", "") ==
        V{"http://localhost:3000/.well-known/oauth-protected-resource"});
}

TEST_CASE("authorization-server metadata URLs follow RFC 8414 then OpenID Connect") {
  CHECK(authorization_server_metadata_urls("https://auth.example.com") ==
        V{"https://auth.example.com/.well-known/oauth-authorization-server",
          "https://auth.example.com/.well-known/openid-configuration"});
  CHECK(authorization_server_metadata_urls("https://auth.example.com/tenant1/") ==
        V{"https://auth.example.com/.well-known/oauth-authorization-server/tenant1",
          "https://auth.example.com/.well-known/openid-configuration/tenant1",
          "https://auth.example.com/tenant1/.well-known/openid-configuration"});
  CHECK(authorization_server_metadata_urls("not a url").empty());
}

TEST_CASE("origins and resources are canonical") {
  CHECK(origin_of("HTTPS://Example.COM:443/mcp") == "https://example.com");
  CHECK(origin_of("http://127.0.0.1:8080/a") == "http://127.0.0.1:8080");
  CHECK(origin_of("ftp://x/") == "");
  CHECK(canonical_resource("https://Example.com/mcp/?q=1#frag") == "https://example.com/mcp");
}

TEST_CASE("the metadata resource must cover the server URL") {
  CHECK(resource_matches("https://mcp.example.com/mcp", "https://mcp.example.com/mcp"));
  CHECK(resource_matches("https://mcp.example.com", "https://mcp.example.com/mcp"));
  CHECK(resource_matches("https://mcp.example.com/", "https://mcp.example.com/mcp"));
  CHECK(resource_matches("https://MCP.example.com:443/mcp/", "https://mcp.example.com/mcp"));
  CHECK_FALSE(resource_matches("https://evil.example.com/mcp", "https://mcp.example.com/mcp"));
  CHECK_FALSE(resource_matches("https://mcp.example.com/other", "https://mcp.example.com/mcp"));
  CHECK_FALSE(resource_matches("https://mcp.example.com/mc", "https://mcp.example.com/mcp"));
  CHECK_FALSE(resource_matches("http://mcp.example.com/mcp", "https://mcp.example.com/mcp"));
}

TEST_CASE("protected-resource metadata needs an authorization server") {
  auto p = parse_protected_resource(
      R"({"resource":"https://m/mcp","authorization_servers":["https://as"],"scopes_supported":["a","b"]})");
  REQUIRE(p.ok());
  CHECK(p->authorization_servers == V{"https://as"});
  CHECK(p->scopes_supported == V{"a", "b"});
  CHECK_FALSE(parse_protected_resource(R"({"resource":"https://m/mcp"})").ok());
  CHECK_FALSE(parse_protected_resource("<html>").ok());
}

TEST_CASE("authorization-server metadata needs a token endpoint") {
  auto a = parse_auth_server(R"({"issuer":"https://as","token_endpoint":"https://as/token",
      "registration_endpoint":"https://as/register","token_endpoint_auth_methods_supported":["client_secret_post"],
      "client_id_metadata_document_supported":true})");
  REQUIRE(a.ok());
  CHECK(a->registration_endpoint == "https://as/register");
  CHECK(a->token_endpoint_auth_methods_supported == V{"client_secret_post"});
  CHECK(a->client_id_metadata_document_supported);
  CHECK_FALSE(parse_auth_server(R"({"issuer":"https://as"})").ok());
}

TEST_CASE("the 2025-03-26 fallback endpoints are at the server's origin") {
  auto a = default_endpoints("https://mcp.example.com/v1/mcp");
  CHECK(a.token_endpoint == "https://mcp.example.com/token");
  CHECK(a.authorization_endpoint == "https://mcp.example.com/authorize");
  CHECK(a.registration_endpoint == "https://mcp.example.com/register");
}

TEST_CASE("token answers and OAuth errors") {
  auto t = parse_token_response(R"({"access_token":"at","token_type":"bearer","expires_in":3600,"refresh_token":"rt"})");
  REQUIRE(t.ok());
  CHECK(t->access_token == "at");
  CHECK(t->expires_in == std::chrono::seconds(3600));
  CHECK(t->refresh_token == "rt");
  auto e = parse_token_response(R"({"error":"invalid_client","error_description":"bad secret"})");
  REQUIRE_FALSE(e.ok());
  CHECK(e.error().message.find("invalid_client (bad secret)") != std::string::npos);
  CHECK_FALSE(parse_token_response(R"({"access_token":"at","token_type":"mac"})").ok());
  CHECK_FALSE(parse_token_response(R"({"token_type":"Bearer"})").ok());
}

TEST_CASE("scope selection prefers the challenge then scopes_supported") {
  CHECK(select_scope({}, "a b", {"x"}) == "a b");
  CHECK(select_scope({}, "", {"x", "y"}) == "x y");
  CHECK(select_scope({}, "", {}) == "");
  CHECK(select_scope({"cfg"}, "a cfg", {"x"}) == "cfg a");
  CHECK(select_scope({"cfg"}, "", {"x"}) == "cfg");
}
