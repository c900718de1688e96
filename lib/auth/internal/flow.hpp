// The steps of an OAuth flow that the node's TokenProvider (client_credentials, refresh) and
// `mcpctl auth login` (authorization code with PKCE) share: discovery, dynamic registration,
// the token endpoint's client authentication and request. Blocking: call them off the loop.
#pragma once

#include "auth/discovery.hpp"
#include "auth/internal/http_fetch.hpp"
#include "common/error.hpp"

#include <string>
#include <vector>

namespace mcpd::auth::internal {

struct Discovered {
  AuthServer as;
  std::string resource;                    // the RFC 8707 resource to ask for
  std::vector<std::string> scopes_supported;  // from the protected-resource metadata
  bool metadata = false;                   // false: the 2025-03-26 default endpoints
};
// Protected-resource metadata, its resource check, then the authorization server's metadata.
Result<Discovered> discover(const std::string& name, const std::string& server_url, const Challenge& challenge,
                            const FetchOptions& fo);

// POSTs an initialize request without credentials and returns the server's answer: for a
// server that wants authorization, a 401 with its WWW-Authenticate challenge.
FetchResponse probe(const std::string& server_url, const FetchOptions& fo);

struct Client {
  std::string id, secret, method;  // method: the token endpoint auth method
};

struct Registration {
  std::vector<std::string> grant_types;
  std::vector<std::string> redirect_uris;
  std::string scope;
};
// RFC 7591 dynamic client registration.
Result<Client> register_client(const std::string& name, const AuthServer& as, const Registration& r,
                               const FetchOptions& fo);

// The auth method for `c` at a server that supports `supported` (empty: unknown), when none
// was configured or registered: private_key_jwt for a PEM key, else client_secret_basic or
// _post with a secret, else none.
std::string pick_method(const Client& c, const std::vector<std::string>& supported);

// POSTs the form `body` to the token endpoint with `c`'s authentication; `audience` is the
// client assertion's aud (the issuer). `grant` names the grant in messages.
Result<TokenResponse> token_request(const std::string& endpoint, const std::string& audience, std::string body,
                                    const Client& c, const FetchOptions& fo, const std::string& grant);

}  // namespace mcpd::auth::internal
