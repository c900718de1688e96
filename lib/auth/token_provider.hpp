// TokenProvider: OAuth access tokens for one remote MCP server, shared by all of its sessions.
//
// When the server answers 401 (or 403 insufficient_scope) the transport calls acquire() with
// the WWW-Authenticate header; the provider then, on its own thread (blocking libcurl easy
// requests; never the event loop), in this order:
//   1. redeems a refresh token if it holds one;
//   2. finds the protected-resource metadata (RFC 9728: the challenge's resource_metadata, then
//      the path-based and root well-known URLs), checks its `resource` names this server, and
//      finds the authorization server's metadata (RFC 8414, then OpenID discovery). A server
//      with no metadata at all gets the 2025-03-26 fallbacks: its origin as the authorization
//      server, then /authorize, /token and /register there;
//   3. registers a client (RFC 7591) when none is configured or stored;
//   4. asks for a token with the client_credentials grant (client_secret_basic, _post,
//      private_key_jwt or none, as configured or as the server supports), with the RFC 8707
//      `resource` and the selected scope.
// Tokens are cached and written to a mode-0600 file under the node's state directory (with the
// refresh token and any registered client); current() hands out the cached token and starts a
// refresh in the background once less than a minute of its life is left. A grant that `mcpctl
// auth login` wrote to that file (authorization code with PKCE, for servers whose
// authorization server offers no client_credentials) is taken up at the next acquire().
//
// Thread-safety: every member may be called from any thread. `done` callbacks run on the
// provider's thread: post them back to your own strand.
#pragma once

#include "common/error.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mcpd::auth {

struct OAuthSettings {
  std::string name;             // the server's name, for logs
  std::string server_url;       // the MCP endpoint
  std::string client_id;        // pre-registered client; empty: register dynamically
  std::string client_secret;    // resolved secret (or PEM private key for private_key_jwt); may be empty
  std::string client_auth;      // token endpoint auth method; empty: chosen from the server's metadata
  std::vector<std::string> scopes;  // always requested (besides what the server asks for)
  std::string store_path;       // the grant's file; empty: kept in memory only
  std::string ca_file;
  bool tls_verify = true;
  std::chrono::milliseconds request_timeout{15000};
  std::chrono::seconds refresh_margin{60};
  // Every URL the flow is about to fetch: empty when allowed, else why not (the node's
  // [security] allowed_urls for a record registered at run time); null: any URL.
  std::function<std::string(const std::string& url)> url_refused;
};

class TokenProvider : public std::enable_shared_from_this<TokenProvider> {
 public:
  using Done = std::function<void(Result<std::string>)>;

  static std::shared_ptr<TokenProvider> create(OAuthSettings settings);
  ~TokenProvider();
  TokenProvider(const TokenProvider&) = delete;
  TokenProvider& operator=(const TokenProvider&) = delete;

  // The cached access token while it has not expired; starts a background refresh when it is
  // inside the refresh margin.
  std::optional<std::string> current();
  // A token for a request the server refused: `challenge` is its WWW-Authenticate header (may
  // be empty), `refused` the token it refused (dropped if still cached; empty if none was
  // sent). Concurrent calls share one flow.
  void acquire(std::string challenge, std::string refused, Done done);

  const OAuthSettings& settings() const { return settings_; }

  struct State;  // token_provider.cpp

 private:
  explicit TokenProvider(OAuthSettings settings);
  void start_worker_locked();
  void run();
  OAuthSettings settings_;
  std::unique_ptr<State> state_;
};

}  // namespace mcpd::auth
