#include "mcp/in_process_server.hpp"

#include "jsonrpc/peer.hpp"
#include "mcp/protocol.hpp"

namespace mcpd::mcp {

Json text_result(std::string text, bool is_error) {
  Json r = {{"content", Json::array({{{"type", "text"}, {"text", std::move(text)}}})}};
  if (is_error) r["isError"] = true;
  return r;
}

InProcessServer::InProcessServer(std::string name, std::string version)
    : name_(std::move(name)), version_(std::move(version)) {}

InProcessServer& InProcessServer::add_tool(Json definition, ToolHandler handler) {
  std::string tool_name = definition.at("name").get<std::string>();
  if (!definition.contains("inputSchema")) definition["inputSchema"] = {{"type", "object"}};
  tools_[tool_name] = Tool{std::move(definition), std::move(handler)};
  return *this;
}

transport::WorkerMain InProcessServer::serve() const {
  return [server = *this](transport::WorkerIo& io) {
    auto respond = [&io](const Json& id, Result<Json> r) {
      Json msg = {{"jsonrpc", "2.0"}, {"id", id}};
      if (r.ok()) {
        msg["result"] = std::move(r).value();
      } else {
        int code = r.error().rpc_code != 0 ? r.error().rpc_code : jsonrpc::kInternalError;
        msg["error"] = {{"code", code}, {"message", r.error().message}};
      }
      io.send(msg.dump(-1, ' ', false, Json::error_handler_t::replace));
    };
    while (auto line = io.receive()) {
      Json msg = Json::parse(*line, nullptr, false);
      if (msg.is_discarded() || !msg.is_object()) {
        respond(nullptr, make_error(Errc::invalid_request, "parse error", jsonrpc::kParseError));
        continue;
      }
      if (!msg.contains("id")) continue;  // notifications: nothing to answer
      const Json id = msg["id"];
      const std::string method = msg.value("method", "");
      const Json params = msg.value("params", Json::object());
      if (method == "initialize") {
        std::string asked = params.value("protocolVersion", std::string(kLatestProtocolVersion));
        respond(id, Json{{"protocolVersion", is_supported_protocol_version(asked) ? asked : std::string(kLatestProtocolVersion)},
                         {"capabilities", {{"tools", Json::object()}}},
                         {"serverInfo", {{"name", server.name_}, {"version", server.version_}}}});
      } else if (method == "ping") {
        respond(id, Json::object());
      } else if (method == "tools/list") {
        Json list = Json::array();
        for (const auto& [n, t] : server.tools_) list.push_back(t.definition);
        respond(id, Json{{"tools", std::move(list)}});
      } else if (method == "tools/call") {
        const std::string tool = params.value("name", "");
        auto it = server.tools_.find(tool);
        if (it == server.tools_.end()) {
          respond(id, make_error(Errc::unknown_tool, "Unknown tool: " + tool, jsonrpc::kInvalidParams));
          continue;
        }
        const Json args = params.value("arguments", Json::object());
        respond(id, it->second.handler(ToolCall{args, io.stop_token()}));
      } else {
        respond(id, make_error(Errc::invalid_request, "Method not found: " + method, jsonrpc::kMethodNotFound));
      }
    }
  };
}

}  // namespace mcpd::mcp
