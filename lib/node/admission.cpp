#include "node/admission.hpp"

namespace mcpd::node {

Admission::Admission(security::Policy policy, const std::vector<catalog::ServerConfig>& own) : policy_(std::move(policy)) {
  for (const auto& c : own) own_.emplace(c.name, c);
}

bool Admission::is_own(const catalog::ServerConfig& config) const {
  auto it = own_.find(config.name);
  return it != own_.end() && catalog::same_definition(it->second, config);
}

Status Admission::may_run(const catalog::ServerConfig& config) const {
  if (is_own(config)) return {};
  if (auto st = may_change("server '" + config.name + "', registered at run time,"); !st.ok()) return st;
  return security::check_server(policy_, config);
}

}  // namespace mcpd::node
