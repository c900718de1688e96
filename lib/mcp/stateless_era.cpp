#include "mcp/stateless_era.hpp"

#include "mcp/lifecycle.hpp"
#include "mcp/protocol.hpp"

#include <nlohmann/json.hpp>

namespace mcpd::mcp {
namespace {

// "elicitation/create (\"Delete 3 files?\")" for each input request, for an error message.
std::string describe_input_requests(const Json& result) {
  std::string s;
  auto reqs = result.find("inputRequests");
  if (reqs == result.end() || !reqs->is_object()) return s;
  for (const auto& [key, req] : reqs->items()) {
    if (!s.empty()) s += "; ";
    std::string method = req.is_object() ? req.value("method", std::string("?")) : std::string("?");
    s += method;
    if (req.is_object() && req.contains("params") && req["params"].is_object()) {
      const Json& p = req["params"];
      if (auto m = p.find("message"); m != p.end() && m->is_string()) {
        std::string text = m->get<std::string>();
        if (text.size() > 200) text = text.substr(0, 200) + "...";
        s += " (\"" + text + "\")";
      }
    }
  }
  return s;
}

}  // namespace

void stamp_envelope(Json& params, std::string_view protocol_version) {
  if (!params.is_object()) params = Json::object();
  Json& meta = params["_meta"];
  if (!meta.is_object()) meta = Json::object();
  meta[std::string(kProtocolVersionMeta)] = std::string(protocol_version);
  meta[std::string(kClientCapabilitiesMeta)] = Json::object();
  meta[std::string(kClientInfoMeta)] = {{"name", std::string(kClientName)}, {"version", std::string(kClientVersion)}};
}

Json discover_params(std::string_view protocol_version) {
  Json params = Json::object();
  stamp_envelope(params, protocol_version);
  return params;
}

std::optional<Result<ServerDescription>> read_discover_result(const Json& result) {
  if (!result.is_object()) return std::nullopt;
  auto versions = result.find("supportedVersions");
  if (versions == result.end() || !versions->is_array()) return std::nullopt;
  ServerDescription d;
  for (auto ours : kStatelessProtocolVersions) {  // newest first
    for (const auto& v : *versions)
      if (v.is_string() && v.get_ref<const std::string&>() == ours) d.protocol_version = std::string(ours);
    if (!d.protocol_version.empty()) break;
  }
  if (d.protocol_version.empty()) {
    std::string theirs;
    for (const auto& v : *versions)
      if (v.is_string()) theirs += (theirs.empty() ? "" : ", ") + v.get<std::string>();
    return Result<ServerDescription>(make_error(
        Errc::unavailable, "server/discover: the server speaks MCP protocol versions [" + theirs +
                               "], none of which mcpd supports (supported: " + supported_protocol_versions() + ")"));
  }
  if (auto it = result.find("capabilities"); it != result.end() && it->is_object()) d.capabilities = *it;
  if (auto it = result.find("instructions"); it != result.end() && it->is_string()) d.instructions = *it;
  if (auto meta = result.find("_meta"); meta != result.end() && meta->is_object()) {
    if (auto info = meta->find(std::string(kServerInfoMeta)); info != meta->end() && info->is_object())
      d.server_info = *info;
  }
  return Result<ServerDescription>(std::move(d));
}

Result<Json> settle_stateless_answer(std::string_view method, Result<Json> answer) {
  if (!answer.ok()) {
    if (answer.error().rpc_code != kMissingRequiredClientCapability) return answer;
    Error e = answer.error();
    e.code = Errc::tool_error;
    e.message = std::string(method) + ": the server needs input from the client to go on, which mcpd cannot give (" +
                e.message + ")";
    return e;
  }
  Json& r = answer.value();
  if (!r.is_object()) return answer;
  auto type = r.find("resultType");
  if (type == r.end()) return answer;  // servers of earlier revisions omit it: complete
  if (*type == "complete") {
    r.erase(type);
    return answer;
  }
  if (*type == "input_required") {
    std::string asked = describe_input_requests(r);
    return make_error(Errc::tool_error,
                      std::string(method) + ": the server needs input from the client to go on" +
                          (asked.empty() ? std::string() : " (" + asked + ")") +
                          ", which mcpd cannot give: it relays no input requests of MCP " +
                          std::string(kLatestStatelessVersion) + " servers");
  }
  return make_error(Errc::internal, std::string(method) + ": the server answered with resultType " + type->dump() +
                                        ", which mcpd does not know");
}

}  // namespace mcpd::mcp
