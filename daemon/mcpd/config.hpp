// The daemon's settings: read from a TOML file (see config.example.toml), then overridden by
// the environment (MCPD_NATS_URL, MCPD_STORE_PATH, MCPD_NODE_ID, MCPD_LOG_LEVEL, MCPD_METRICS_LISTEN, and the NATS
// authentication and TLS keys: MCPD_NATS_USER, _PASSWORD, _TOKEN, _CREDS, _NKEY_SEED, _TLS_CA,
// _TLS_CERT, _TLS_KEY — the same variables mcpctl reads). A mistake in the file stops the
// daemon at start with the file, the key and what is wrong.
#pragma once

#include "bus/connection.hpp"
#include "catalog/server_config.hpp"
#include "node/manager.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace mcpd::daemon {

struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Everything the file and the environment set, read straight into the options the modules
// take (bus::Options, node::ManagerOptions): one place per key, so a new key cannot be
// half-wired on its way to where it is used.
struct DaemonConfig {
  // [nats] → the connection. servers is empty for the embedded default (a local nats-server
  // started for us); main fills in its URL.
  bus::Options nats;
  // [node], [nats] prefix/queue_group, [defaults], [cluster], [limits] → the node.
  // node.node_id defaults to the host name.
  node::ManagerOptions node;

  std::string embedded_host = "127.0.0.1";
  int embedded_port = 4222;
  std::string embedded_binary = "nats-server";
  bool embedded_allow_remote = false;  // a listen host other than loopback is refused unless true
  std::string embedded_store_dir;      // JetStream storage of the embedded server; default: beside the catalog

  std::string store_path = "/var/lib/mcpd/catalog.db";

  // [metrics] listen: HOST:PORT of the HTTP listener for /metrics, /healthz and /readyz ("":
  // none; port 0: any free port, which the log says).
  std::string metrics_listen;

  std::string log_level = "info";
  std::string log_format = "text";     // text | json

  unsigned loop_threads = 1;          // measured: a second thread only adds hand-offs (bench/README.md)
  nlohmann::json server_defaults = nlohmann::json::object();  // [defaults.server]: MCPServer fields

  std::vector<catalog::ServerConfig> servers;  // [[servers]], imported into the catalog at start

  bool embedded_nats() const { return nats.servers.empty(); }
  std::string nats_url() const { return nats.servers.empty() ? std::string() : nats.servers.front(); }
  // The drain budget at shutdown (also each pool's when it is replaced).
  std::chrono::milliseconds drain_timeout() const { return node.pool_defaults.drain_timeout; }
};

// Reads `path` ("" = built-in defaults only), applies environment overrides and validates.
// Throws ConfigError with a message naming the file and key.
DaemonConfig load_config(const std::string& path);

// What an operator should hear at start about this configuration's security (logged as
// warnings): e.g. NATS without authentication while the bus may make the node run anything.
std::vector<std::string> security_warnings(const DaemonConfig& config);

// HOST:PORT (IPv6 in brackets) split; nullopt if it is not one.
struct ListenAddress {
  std::string host;
  int port = 0;
};
std::optional<ListenAddress> parse_listen(const std::string& text);

// Applies [defaults.server] to an MCPServer JSON document: fields it does not set are taken
// from the defaults.
nlohmann::json with_server_defaults(const nlohmann::json& server, const nlohmann::json& defaults);

}  // namespace mcpd::daemon
