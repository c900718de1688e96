#include "node/admission.hpp"

namespace mcpd::node {

Admission::Admission(security::Policy policy, const std::vector<catalog::ServerConfig>& own) : policy_(std::move(policy)) {
  set_own(own);
}

void Admission::set_own(const std::vector<catalog::ServerConfig>& own) {
  std::map<std::string, catalog::ServerConfig, std::less<>> fresh;
  for (const auto& c : own) fresh.emplace(c.name, c);
  MutexLock lock(mu_);
  own_.swap(fresh);
}

std::vector<std::string> Admission::own_names() const {
  std::vector<std::string> out;
  MutexLock lock(mu_);
  for (const auto& [name, c] : own_) out.push_back(name);
  return out;
}

bool Admission::is_own(const catalog::ServerConfig& config) const {
  MutexLock lock(mu_);
  auto it = own_.find(config.name);
  return it != own_.end() && catalog::same_definition(it->second, config);
}

Status Admission::may_run(const catalog::ServerConfig& config) const {
  if (is_own(config)) return {};
  if (auto st = may_change("server '" + config.name + "', registered at run time,"); !st.ok()) return st;
  return security::check_server(policy_, config);
}

}  // namespace mcpd::node
