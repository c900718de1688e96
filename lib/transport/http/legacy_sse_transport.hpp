// The HTTP+SSE transport of MCP 2024-11-05 (`transport: "sse"`), for servers that predate
// Streamable HTTP: a GET opens a server-sent-events stream whose first `endpoint` event names
// the URL (relative to the stream's) to POST each message to; the server answers 202 and sends
// every response, request and notification as a `message` event on the stream.
//
// The session lives as long as the stream. If the stream breaks, requests still waiting for an
// answer get a synthesised JSON-RPC error (their answers were lost with it), the transport
// reconnects (the server hands out a new endpoint, i.e. a new session), replays the initialize
// and notifications/initialized it saw (hiding the replayed answer from the client) and goes
// on. If it cannot reconnect, it closes with the reason. The endpoint must be on the stream's
// origin: the bearer token is never sent elsewhere.
#pragma once

#include "transport/http/http_options.hpp"
#include "transport/transport.hpp"

#include <memory>

namespace mcpd::transport {

std::shared_ptr<Transport> make_legacy_sse_transport(io::Strand strand, HttpOptions options);

}  // namespace mcpd::transport
