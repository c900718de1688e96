// Secrets by reference only: the rules that keep a credential's value out of a server record
// (and so out of SQLite, the bus, the cluster's bucket and admin replies). A header or variable
// that carries a credential must take its value from a reference (references.hpp); a URL may
// carry neither a password nor a credential-like query parameter. Each refusal says how to
// write the reference instead.
#pragma once

#include "catalog/server_config.hpp"
#include "common/error.hpp"

#include <string_view>

namespace mcpd::catalog {

// Authorization, Proxy-Authorization, Cookie, Api-Key and *-Api-Key, *-Token (any case).
bool is_credential_header(std::string_view name);
// Names containing TOKEN, SECRET, PASSWORD, PASSWD or API_KEY / APIKEY, or ending in _KEY
// (any case).
bool is_secret_env_name(std::string_view name);

// invalid_request naming the field and the way to reference the secret, or ok.
Status check_secrets_by_reference(const ServerConfig& config);

}  // namespace mcpd::catalog
