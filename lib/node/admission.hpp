// Admission: whether this node runs a server record, and with which secrets. The node's own
// config file is trusted ([[servers]] run as written, their references read anything the
// operator named); every other record — the admin API, catalog events, the cluster's bucket —
// must pass the [security] policy (security/policy.hpp), and with remote_registration = false
// nothing but the config file's servers runs at all. Thread-safe; the config file's servers
// change only when it is reloaded (SIGHUP).
#pragma once

#include "catalog/server_config.hpp"
#include "common/error.hpp"
#include "common/thread_annotations.hpp"
#include "security/policy.hpp"
#include "security/secrets.hpp"

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace mcpd::node {

class Admission {
 public:
  Admission(security::Policy policy, const std::vector<catalog::ServerConfig>& own);

  // The config file's definition of `config.name`, unchanged.
  bool is_own(const catalog::ServerConfig& config) const MCPD_EXCLUDES(mu_);
  // The config file was read again: these are its servers now.
  void set_own(const std::vector<catalog::ServerConfig>& own) MCPD_EXCLUDES(mu_);
  // The names of the config file's servers.
  std::vector<std::string> own_names() const MCPD_EXCLUDES(mu_);
  // Whether this node may run `config`: forbidden naming the rule, else ok.
  Status may_run(const catalog::ServerConfig& config) const;
  // Whether the bus may change the catalog (admin put/delete, events): `what` names the change.
  Status may_change(std::string_view what) const { return security::check_remote_change(policy_, what); }
  // Resolves `config`'s references (trusted for the config file's own servers).
  security::SecretResolver resolver(const catalog::ServerConfig& config) const {
    return security::SecretResolver(policy_, is_own(config));
  }

 private:
  const security::Policy policy_;
  mutable Mutex mu_;
  std::map<std::string, catalog::ServerConfig, std::less<>> own_ MCPD_GUARDED_BY(mu_);
};

}  // namespace mcpd::node
