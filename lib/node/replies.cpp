#include "node/replies.hpp"

#include "mcp/protocol.hpp"

#include <nlohmann/json.hpp>

namespace mcpd::node {

using Json = nlohmann::json;

int service_error_code(Errc code) {
  switch (code) {
    case Errc::invalid_request: return 400;
    case Errc::unknown_tool: return 404;
    case Errc::tool_error: return 422;
    case Errc::timeout: return 504;
    case Errc::cancelled: return 499;
    case Errc::unavailable: return 503;
    case Errc::overloaded: return 429;
    case Errc::too_large: return 413;
    case Errc::forbidden: return 403;
    case Errc::not_found: return 404;
    case Errc::internal: return 500;
  }
  return 500;
}

namespace {
std::string dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

bus::Headers error_headers(const Error& e) {
  // Header values are single lines.
  std::string message = e.message;
  for (auto& c : message)
    if (c == '\r' || c == '\n') c = ' ';
  return {{"Nats-Service-Error", message}, {"Nats-Service-Error-Code", std::to_string(service_error_code(e.code))}};
}
}  // namespace

Reply error_reply(const Error& error, const Json& extra) {
  Json body = extra.is_object() ? extra : Json::object();
  body["error"] = error.message;
  body["code"] = std::string(to_string(error.code));
  return {dump(body), error_headers(error), error};
}

Reply error_reply(const Error& error) { return error_reply(error, Json::object()); }

Reply tool_reply(const Json& result, ReplyFormat format, bool session_reset,
                 const std::optional<std::string>& request_id) {
  Json extra = Json::object();
  if (session_reset) extra["session_reset"] = true;
  if (request_id) extra["request_id"] = *request_id;
  if (mcp::is_tool_error(result)) {
    std::string text = mcp::result_text(result);
    if (text.empty()) text = "the tool reported an error without a message";
    if (format == ReplyFormat::mcp) extra["result"] = result;
    return error_reply(make_error(Errc::tool_error, std::move(text)), extra);
  }
  extra["result"] = format == ReplyFormat::mcp ? result : mcp::compat_result(result);
  return {dump(extra), {}, std::nullopt};
}

Reply relayed_reply(const bus::Message& reply) {
  Reply out{std::string(reply.data()), reply.headers(), std::nullopt};
  if (auto message = reply.header(bus::kServiceErrorHeader)) {
    Error e = make_error(Errc::internal, *message);
    const auto number = reply.header(bus::kServiceErrorCodeHeader).value_or("");
    for (Errc c : {Errc::invalid_request, Errc::unknown_tool, Errc::tool_error, Errc::timeout, Errc::cancelled,
                   Errc::unavailable, Errc::overloaded, Errc::too_large, Errc::forbidden, Errc::internal})
      if (number == std::to_string(service_error_code(c))) e.code = c;
    out.error = std::move(e);
  }
  return out;
}

}  // namespace mcpd::node
