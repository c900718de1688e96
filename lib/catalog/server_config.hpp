// One MCP server record (the "MCPServer" JSON of the admin API and the catalog events): what
// to start or connect to, how to pool its sessions, and the revision that orders changes to it
// across nodes. Parsing validates everything a person can get wrong and says how to fix it;
// a ServerConfig that passed parse_server_config() or validate() is safe to act on.
//
// The record is published on the bus, so secrets stay out of it: auth names an environment
// variable or a file (a literal token is refused), env/headers values may hold references
// (`${VAR}`, `${file:NAME}`: references.hpp) resolved by the node only at spawn/connect time,
// and a credential written literally is refused (secret_rules.hpp).
#pragma once

#include "common/error.hpp"

#include <nlohmann/json_fwd.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mcpd::catalog {

enum class Transport { stdio, http, sse, builtin };
enum class Isolation { session, shared };

std::string_view to_string(Transport t);
std::string_view to_string(Isolation i);

// How mcpd authenticates to a remote server.
//  - "bearer": a static token taken from the daemon's environment or from a file at connect
//    time; exactly one of token_env / token_file is set.
//  - "oauth": OAuth 2.1 (the MCP authorization spec) with the client_credentials grant:
//    discovery from the server's 401, a pre-registered client (client_id) or dynamic
//    registration, tokens kept on the node (lib/auth). token_env / token_file then name the
//    client secret (or, for private_key_jwt, the PEM private key), and may both be empty.
enum class AuthType { bearer, oauth };
struct BearerAuth {
  std::string token_env;   // name of an environment variable holding the token (oauth: the client secret)
  std::string token_file;  // a file in the node's secrets directory: its name there, or its absolute path
  AuthType type = AuthType::bearer;
  std::string client_id{};          // oauth: a pre-registered client; empty: dynamic registration
  std::vector<std::string> scopes{};  // oauth: always requested
  std::string client_auth{};        // oauth: client_secret_basic|client_secret_post|private_key_jwt|none; empty: from the server's metadata
  bool operator==(const BearerAuth&) const = default;
};

struct ServerConfig {
  std::string name;
  std::string description;
  Transport transport = Transport::stdio;

  // stdio
  std::string command;
  std::vector<std::string> args;
  std::map<std::string, std::string> env;  // values may hold ${VAR} references
  bool inherit_env = false;                // pass the daemon's whole environment to the child
  std::string cwd;

  // http / sse
  std::string url;
  std::map<std::string, std::string> headers;  // values may hold ${VAR} references
  std::optional<BearerAuth> auth;
  std::string ca_file;
  bool tls_verify = true;

  // builtin: which of mcpd's in-process servers (kBuiltinServers), run on the Worker transport
  std::string builtin;

  // timing
  int connect_timeout_seconds = 30;
  int call_timeout_ms = 30000;
  int ping_interval_seconds = 30;  // 0 = never ping

  // pool
  int min_sessions = 1;
  int max_sessions = 4;
  int max_inflight_per_session = 32;
  int max_queue = 256;
  Isolation isolation = Isolation::session;
  int max_isolated_sessions = 32;
  int idle_ttl_seconds = 300;
  // One message from the server (a stdio line, an HTTP body, an SSE event): a larger answer
  // fails its call with too_large. Above NATS max_payload (1 MiB by default) on purpose: the
  // reply limit is the bus's, this one bounds our memory.
  int max_message_bytes = 8 << 20;

  bool enabled = true;

  // Bookkeeping, assigned by the catalog store (see store.hpp), not by the admin.
  std::int64_t revision = 0;
  std::string created_at;  // RFC 3339, empty when not yet stored
  std::string updated_at;

  bool operator==(const ServerConfig&) const = default;
};

// The servers mcpd hosts in-process (transport "builtin"): "mcpd", whose tools report the
// cluster it runs on (lib/node/builtin).
inline constexpr std::string_view kBuiltinServers[] = {"mcpd"};

// Parses and validates an MCPServer JSON object. Errors have code Errc::invalid_request and a
// message naming the field and what is accepted.
Result<ServerConfig> parse_server_config(const nlohmann::json& j);

// The same rules for a config built in code (e.g. from the daemon's TOML file).
Status validate(const ServerConfig& config);

// The full record, defaults written out, fields of the other transports left out; parses back
// to an equal ServerConfig.
nlohmann::json to_json(const ServerConfig& config);

// Whether `name` can name a server (and so be a NATS subject token); if not, an
// invalid_request error saying the rules.
Status check_server_name(std::string_view name);

// Equal ignoring revision, createdAt and updatedAt: whether a running pool still matches.
bool same_definition(const ServerConfig& a, const ServerConfig& b);

// `t` as RFC 3339 UTC with milliseconds: "2026-11-22T01:02:03.456Z" (sorts chronologically).
std::string format_timestamp(std::chrono::system_clock::time_point t);

}  // namespace mcpd::catalog
