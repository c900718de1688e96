// The Streamable HTTP transport (MCP 2025-03-26 … 2025-11-25): each outgoing JSON-RPC message
// is one POST to the server's MCP endpoint; the answer is a JSON body, an SSE stream (which may
// carry the server's own requests and notifications before the response) or 202 Accepted.
//
// It keeps the session the server assigns (Mcp-Session-Id, MCP-Protocol-Version), and when the
// server forgets it (404 to a request that carried it) opens a new one transparently: it
// replays the initialize request and notifications/initialized it saw, hides the replayed
// response from the client, then resends the failed message once. It listens on the optional
// GET stream for server-initiated messages, resumes an interrupted SSE stream with
// Last-Event-ID after the server's retry delay, and ends the session with DELETE on close.
//
// HTTP never leaves a caller hanging: a request the server refused (4xx/5xx) or could not be
// reached for gets a synthesised JSON-RPC error response (code -32000) naming the HTTP status
// or curl's error. The transport itself closes only when the very first initialize cannot
// reach the server, or when re-initialising an expired session fails.
#pragma once

#include "transport/http/http_options.hpp"
#include "transport/transport.hpp"

#include <memory>

namespace mcpd::transport {

std::shared_ptr<Transport> make_streamable_http_transport(io::Strand strand, HttpOptions options);

}  // namespace mcpd::transport
