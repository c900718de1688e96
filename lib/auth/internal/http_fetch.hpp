// One blocking HTTP exchange with libcurl's easy interface, for the OAuth requests (metadata,
// registration, tokens). Runs on the token provider's own thread, never on the event loop:
// these requests are rare (once per token lifetime) and a flow is a strict sequence of them.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mcpd::auth::internal {

struct FetchOptions {
  std::string ca_file;  // empty: the system's CA bundle
  bool tls_verify = true;
  std::chrono::milliseconds timeout{15000};
  // Asked before every request: empty when `url` may be fetched, else why not. Discovery
  // follows URLs the remote server names (resource_metadata, authorization_servers, token and
  // registration endpoints), so the node's policy decides where those may lead.
  std::function<std::string(const std::string& url)> url_refused;
};

struct FetchRequest {
  std::string method = "GET";        // GET or POST
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  std::string body;                  // POST only
};

struct FetchResponse {
  long status = 0;       // 0: no HTTP answer (see error)
  std::string error;     // curl's words when the exchange failed below HTTP
  std::string body;      // at most 1 MiB kept
  std::string www_authenticate;  // the WWW-Authenticate header, if any
};

// How FetchResponse::error starts when url_refused refused the request.
inline constexpr std::string_view kNotFetched = "not fetched: ";

FetchResponse fetch(const FetchRequest& request, const FetchOptions& options);

// `s` percent-encoded for application/x-www-form-urlencoded bodies.
std::string form_encode(const std::string& s);

}  // namespace mcpd::auth::internal
