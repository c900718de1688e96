// Reply bodies and headers of the NATS contract: tool replies in the "compat" and "mcp"
// formats, tool-list replies, and error replies. Every error reply also carries the
// Nats-Service-Error / Nats-Service-Error-Code headers so generic NATS tooling sees it.
#pragma once

#include "bus/message.hpp"
#include "common/error.hpp"

#include <nlohmann/json_fwd.hpp>

#include <optional>
#include <string>

namespace mcpd::node {

struct Reply {
  std::string body;
  bus::Headers headers;
  std::optional<Error> error;  // what an error reply reports (counted as the endpoint's last error)
};

enum class ReplyFormat { compat, mcp };

// The numeric code that goes in Nats-Service-Error-Code (HTTP-like, as NATS services use).
int service_error_code(Errc code);

// {"error": message, "code": "<code>"} plus `extra` members (e.g. "tools": [] or "request_id").
Reply error_reply(const Error& error, const nlohmann::json& extra);
Reply error_reply(const Error& error);

// A finished tool call. compat: "result" is the joined text or structuredContent; mcp: the
// whole CallToolResult. A result with isError:true is an error with code tool_error (in the
// mcp format the whole result is kept beside it).
Reply tool_reply(const nlohmann::json& call_tool_result, ReplyFormat format, bool session_reset,
                 const std::optional<std::string>& request_id);

// Another node's reply to a call, passed on to the caller unchanged (body and headers); an
// error reply (its Nats-Service-Error headers) is counted as one here too.
Reply relayed_reply(const bus::Message& reply);

}  // namespace mcpd::node
