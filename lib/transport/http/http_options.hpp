// HttpOptions: how to reach one MCP server over HTTP — the Streamable HTTP transport
// (make_streamable_http_transport) and the legacy HTTP+SSE transport (make_legacy_sse_transport).
// Secrets arrive already resolved (the caller reads env vars and token files); the transports
// send them and never log them.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace mcpd::auth {
class TokenProvider;
}

namespace mcpd::transport {

struct HttpOptions {
  std::string name;                                  // the server's name, used in every log line
  std::string url;                                   // the MCP endpoint (Streamable HTTP) or SSE URL (legacy)
  std::map<std::string, std::string> headers;        // sent on every request
  std::optional<std::string> bearer_token;           // sent as "Authorization: Bearer <token>"
  // OAuth (Streamable HTTP only): tokens from this provider, shared by the server's sessions;
  // a 401 (or 403 insufficient_scope) asks it for a token and resends the message once.
  std::shared_ptr<auth::TokenProvider> oauth = nullptr;
  std::string ca_file;                               // PEM bundle to verify the server with; empty: system CAs
  bool tls_verify = true;                            // false: accept any certificate (testing only)
  std::chrono::milliseconds connect_timeout{10000};  // TCP + TLS handshake
  // A backstop for one HTTP exchange; the MCP layer keeps its own deadlines. 0 = none, which
  // long-lived SSE streams need.
  std::chrono::milliseconds request_timeout{0};
  std::chrono::milliseconds delete_timeout{2000};    // the best-effort DELETE when closing
  std::size_t max_message_bytes = 256u << 20;        // one JSON body or SSE event
};

}  // namespace mcpd::transport
