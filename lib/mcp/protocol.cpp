#include "mcp/protocol.hpp"

#include <nlohmann/json.hpp>

namespace mcpd::mcp {

bool is_supported_protocol_version(std::string_view version) {
  for (auto v : kSupportedProtocolVersions)
    if (v == version) return true;
  return false;
}

bool is_stateless_protocol_version(std::string_view version) {
  return version.size() == kLatestStatelessVersion.size() && version >= kLatestStatelessVersion;
}

std::string supported_protocol_versions() {
  std::string s;
  for (auto v : kStatelessProtocolVersions) {
    if (!s.empty()) s += ", ";
    s += v;
  }
  for (auto v : kSupportedProtocolVersions) {
    if (!s.empty()) s += ", ";
    s += v;
  }
  return s;
}

std::string result_text(const Json& result) {
  std::string text;
  auto content = result.find("content");
  if (content == result.end() || !content->is_array()) return text;
  bool first = true;
  for (const auto& item : *content) {
    if (!item.is_object()) continue;
    auto type = item.find("type");
    auto t = item.find("text");
    if (type == item.end() || *type != "text" || t == item.end() || !t->is_string()) continue;
    if (!first) text += '\n';
    text += t->get_ref<const std::string&>();
    first = false;
  }
  return text;
}

Json compat_result(const Json& result) {
  if (auto sc = result.find("structuredContent"); sc != result.end() && !sc->is_null()) return *sc;
  return result_text(result);
}

bool is_tool_error(const Json& result) {
  auto it = result.find("isError");
  return it != result.end() && it->is_boolean() && it->get<bool>();
}

TaskSupport task_support_of(const Json& tool) {
  if (!tool.is_object()) return TaskSupport::forbidden;
  auto ex = tool.find("execution");
  if (ex == tool.end() || !ex->is_object()) return TaskSupport::forbidden;
  auto ts = ex->find("taskSupport");
  if (ts == ex->end() || !ts->is_string()) return TaskSupport::forbidden;
  if (*ts == "required") return TaskSupport::required;
  if (*ts == "optional") return TaskSupport::optional;
  return TaskSupport::forbidden;
}

bool server_runs_tool_tasks(const Json& capabilities) {
  const Json* c = &capabilities;
  for (const char* k : {"tasks", "requests", "tools", "call"}) {
    if (!c->is_object()) return false;
    auto it = c->find(k);
    if (it == c->end()) return false;
    c = &*it;
  }
  return c->is_object();
}

}  // namespace mcpd::mcp
