// The authorization-code flow with PKCE (OAuth 2.1, MCP authorization 2025-11-25) for a person
// at a terminal: `mcpctl auth login NAME` runs it on the node that serves the server, and the
// grant it gets (access and refresh token, and the client it registered) is written to the
// node's grant file (mode 0600), where the node's TokenProvider takes it up. Nothing crosses
// the bus.
//
// Steps: an unauthenticated initialize finds the server's challenge; discovery as the node
// does it; the client is the configured one, else a Client ID Metadata Document URL when the
// authorization server supports those and one is given, else a dynamic registration with the
// loopback redirect URI; then the authorization URL (S256 challenge, state, resource, scope)
// is handed to `open` (print it, or start a browser), the redirect is received on
// http://127.0.0.1:PORT/callback, and the code is exchanged for tokens with the verifier.
// Blocking: it waits for the redirect up to `wait`.
#pragma once

#include "auth/token_cache.hpp"
#include "common/error.hpp"

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace mcpd::auth {

struct LoginOptions {
  std::string name;              // the server's name, for messages
  std::string server_url;
  std::string client_id;         // pre-registered; empty: CIMD or dynamic registration
  std::string client_secret;     // its secret, if it has one
  std::string client_metadata_url;  // an https URL serving this client's metadata document (CIMD)
  std::vector<std::string> scopes;  // always requested
  std::string store_path;        // where the grant is written; empty: not written
  std::string ca_file;
  bool tls_verify = true;
  int port = 0;                  // loopback port for the redirect; 0: any free one
  std::chrono::seconds wait{300};
  std::function<void(const std::string& url)> open;  // shows the authorization URL to the person
};

Result<Grant> login(const LoginOptions& options);

}  // namespace mcpd::auth
