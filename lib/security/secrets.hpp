// SecretResolver: turns a record's secret references into values on this node, when a session
// starts or connects — the only place a secret's value exists in mcpd. `${NAME}` reads mcpd's
// environment, if [security] secret_env allows NAME; `${file:NAME}` and auth.tokenFile read a
// regular file inside [security] secrets_dir (symbolic links may not lead out of it), at most
// max_secret_file_bytes, one trailing newline dropped. Errors name the reference, never a value.
//
// A resolver for the node's own config file (`trusted`) may read any variable and any file the
// operator wrote there: the policy walls off the bus, not the operator.
#pragma once

#include "catalog/references.hpp"
#include "catalog/server_config.hpp"
#include "common/error.hpp"
#include "security/policy.hpp"

#include <string>
#include <string_view>

namespace mcpd::security {

class SecretResolver {
 public:
  explicit SecretResolver(Policy policy, bool trusted = false) : policy_(std::move(policy)), trusted_(trusted) {}

  Result<std::string> resolve(const catalog::Reference& ref) const;
  // `value` with every reference resolved.
  Result<std::string> expand(std::string_view value) const;
  // The bearer token named by `auth` (its variable or its file).
  Result<std::string> bearer_token(const catalog::BearerAuth& auth) const;
  // Whether this record's credentials may be sent to `url` (its OAuth discovery, registration
  // and token endpoints, named by the remote server): a record registered at run time only to
  // hosts in [security] allowed_urls. Empty when allowed, else why not.
  std::string refuses_url(const std::string& url) const;

 private:
  Result<std::string> read_file(const std::string& path_or_name, const std::string& what) const;

  Policy policy_;
  bool trusted_;
};

}  // namespace mcpd::security
