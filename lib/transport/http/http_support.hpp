// Helpers the HTTP transports share: the headers every request carries, URLs safe to log,
// resolving the legacy transport's endpoint, and reading just enough of a JSON-RPC message
// (kind, id, method) to route it without building the whole document.
#pragma once

#include "common/text.hpp"
#include "transport/http/http_options.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mcpd::transport::http {

// "Name: value" lines for the configured headers and the bearer token. Headers the transports
// set themselves (Content-Type, Accept, Mcp-Session-Id, ...) and values holding CR/LF are
// skipped with a warning (which names the header, never its value).
std::vector<std::string> base_headers(const HttpOptions& options);

// scheme://host[:port]/path — no user info, query or fragment, which may carry secrets.
std::string redact_url(const std::string& url);
// `ref` (absolute, or relative like "/message?sessionId=1") resolved against `base`.
std::optional<std::string> resolve_url(const std::string& base, const std::string& ref);
// Same scheme, host and port.
bool same_origin(const std::string& a, const std::string& b);

// At most `n` bytes of an HTTP body for an error message (common/text.hpp).
using mcpd::excerpt;

struct MessageInfo {
  enum class Kind { request, notification, response, other } kind = Kind::other;
  std::string method;           // requests and notifications
  std::string id;               // the id as JSON text ("7", "\"a\""), empty if none
  bool is_error = false;        // a response with `error`
  // params._meta.traceparent / tracestate of a request (W3C trace context), sent as HTTP headers
  // too; only printable ASCII of a bounded length is taken.
  std::string traceparent, tracestate;
  // params._meta["io.modelcontextprotocol/protocolVersion"] of a request or notification: the
  // claim of the stateless era (2026-07-28 on), whose POSTs carry the standard request headers.
  std::string protocol_version;
  // params.name, params.uri or params.taskId: what the Mcp-Name header mirrors.
  std::string target;
};
// Reads the top-level members of one JSON-RPC message (a SAX pass: nested values are skipped,
// not stored). Kind::other when it is not a JSON-RPC object.
MessageInfo inspect_message(std::string_view message);

// The headers of a stateless-era POST (MCP 2026-07-28): MCP-Protocol-Version (the body's
// claim), Mcp-Method, and Mcp-Name for the methods that name a tool, prompt, resource or task
// (base64 sentinel form when the value is not plain header-safe ASCII).
std::vector<std::string> stateless_request_headers(const MessageInfo& info);
// `value` as a header value: as it is when it is safe, else "=?base64?...?=".
std::string header_value(std::string_view value);

// The `result.protocolVersion` of an initialize response, if it has one.
std::optional<std::string> protocol_version_of(std::string_view initialize_response);

// The `params.requestId` of a notifications/cancelled, as JSON text ("7"), if it has one.
std::optional<std::string> cancelled_request_id(std::string_view notification);

// A JSON-RPC error response for request `id_json`, standing in for an answer the server could
// not give: the caller's request fails with this message instead of waiting for its deadline.
// Its data says {"transport": "http", "httpStatus"?: N}, so the failure counts as unavailable.
inline constexpr int kTransportErrorCode = -32000;
std::string error_response(const std::string& id_json, const std::string& message, long http_status);

}  // namespace mcpd::transport::http
