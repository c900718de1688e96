// The node's policy on what the bus may ask it to run ([security] in the config file): which
// programs a stdio server registered at run time may start, which hosts an http/sse server may
// reach, which environment variables and files its secret references may read, and whether the
// catalog may change at run time at all. The second wall behind NATS permissions
// (deploy/nats/): whoever gets a record onto the bus still cannot make the node run what this
// policy does not allow. Decisions here are pure (no I/O) and name the rule that refused.
#pragma once

#include "catalog/references.hpp"
#include "catalog/server_config.hpp"
#include "common/error.hpp"

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace mcpd::security {

struct Policy {
  // Programs a stdio server registered at run time may start: a bare name ("npx": the record
  // must say just "npx", found on mcpd's PATH), an absolute path (exactly that program), or a
  // directory ending in '/' (any program directly in it). Empty: any program.
  std::vector<std::string> allowed_commands;
  // Hosts an http/sse server registered at run time may be at: "api.example.com",
  // "*.example.com" (any subdomain), optionally with ":port". Empty: any host.
  std::vector<std::string> allowed_urls;
  // false: the catalog comes from the config file only; admin put/delete and catalog events
  // are refused.
  bool remote_registration = true;
  // Environment variables a `${NAME}` reference (or auth.tokenEnv) may read: names, and
  // prefixes written with a trailing '*'.
  std::vector<std::string> secret_env{"MCPD_SECRET_*"};
  // The directory `${file:NAME}` references and auth.tokenFile read from ("" = none).
  std::string secrets_dir = "/etc/mcpd/secrets";
  std::size_t max_secret_file_bytes = 64 * 1024;
};

// Whether `config`, registered at run time, may run here: forbidden with a message naming
// the [security] key that refuses it, else ok.
Status check_server(const Policy& policy, const catalog::ServerConfig& config);
// Whether a record's reference may be read on this node (the secret_env and secrets_dir rules).
Status check_reference(const Policy& policy, const catalog::Reference& ref);
// Whether the catalog may be changed from the bus (remote_registration).
Status check_remote_change(const Policy& policy, std::string_view what);

bool env_name_allowed(const Policy& policy, std::string_view name);
// Whether `url`'s host (and port) matches [security] allowed_urls (empty: any).
bool url_allowed(const Policy& policy, std::string_view url);
// Lexical: `path` (absolute, no '..' component) lies inside the secrets directory.
bool inside_secrets_dir(const Policy& policy, std::string_view path);

}  // namespace mcpd::security
