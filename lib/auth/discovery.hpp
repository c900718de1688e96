// What an MCP client learns before it may ask for a token (MCP authorization, 2025-11-25):
// the server's 401/403 challenge (WWW-Authenticate: resource_metadata, scope, error), its
// protected-resource metadata (RFC 9728) and its authorization server's metadata (RFC 8414 or
// OpenID Connect discovery), and the token endpoint's answer. Pure functions: no I/O, so each
// rule is tested on its own (tests/unit/auth); token_provider.cpp does the requests.
#pragma once

#include "common/error.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mcpd::auth {

// The Bearer challenge of a WWW-Authenticate header.
struct Challenge {
  std::string resource_metadata;  // RFC 9728 section 5.1
  std::string scope;              // space-separated, what the request needs
  std::string error;              // "invalid_token", "insufficient_scope", ...
};
// nullopt when the header has no Bearer challenge.
std::optional<Challenge> parse_www_authenticate(std::string_view header);

// Where to look for the protected-resource metadata, in order: the URL the challenge named,
// then the path-based well-known URL, then the root one.
std::vector<std::string> protected_resource_metadata_urls(const std::string& server_url,
                                                          const std::string& from_challenge);
// Where to look for an authorization server's metadata, in order: for an issuer with a path,
// RFC 8414 path insertion, OIDC path insertion, OIDC path appending; without one, RFC 8414
// then OIDC at the root.
std::vector<std::string> authorization_server_metadata_urls(const std::string& issuer);

// scheme://host[:port] of `url` (scheme and host lower-cased, default ports dropped); empty if
// it is not an absolute http(s) URL.
std::string origin_of(const std::string& url);
// The server's URL as a resource indicator (RFC 8707): no query or fragment, lower-case
// scheme and host.
std::string canonical_resource(const std::string& server_url);
// Whether the metadata's `resource` covers `server_url`: the same origin and a path that is
// the server's path or one of its parents. A mismatch means the metadata is not this server's.
bool resource_matches(const std::string& resource, const std::string& server_url);

struct ProtectedResource {
  std::string resource;
  std::vector<std::string> authorization_servers;
  std::vector<std::string> scopes_supported;
};
Result<ProtectedResource> parse_protected_resource(std::string_view body);

struct AuthServer {
  std::string issuer;
  std::string authorization_endpoint;
  std::string token_endpoint;
  std::string registration_endpoint;  // empty: no dynamic client registration
  std::vector<std::string> grant_types_supported;
  std::vector<std::string> token_endpoint_auth_methods_supported;
  std::vector<std::string> scopes_supported;
  std::vector<std::string> code_challenge_methods_supported;
  bool client_id_metadata_document_supported = false;
};
Result<AuthServer> parse_auth_server(std::string_view body);
// The 2025-03-26 fallback for a server with no metadata at all: /authorize, /token and
// /register at the MCP server's origin.
AuthServer default_endpoints(const std::string& server_url);

struct TokenResponse {
  std::string access_token;
  std::string token_type;
  std::string refresh_token;               // empty: none given
  std::string scope;                       // empty: as requested
  std::chrono::seconds expires_in{0};      // 0: the server did not say
};
// A token endpoint's JSON answer; an OAuth error body becomes an error naming `error` and
// `error_description`.
Result<TokenResponse> parse_token_response(std::string_view body);

// The scopes to request, by the spec's order of preference: the challenge's, else the
// metadata's scopes_supported; `configured` scopes are always added. Space-separated, each
// once; empty means "leave the parameter out".
std::string select_scope(const std::vector<std::string>& configured, const std::string& challenge_scope,
                         const std::vector<std::string>& scopes_supported);

}  // namespace mcpd::auth
