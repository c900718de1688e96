// The daemon's settings: read from a TOML file (see config.example.toml), then overridden by
// the environment (MCPD_NATS_URL, MCPD_STORE_PATH, MCPD_NODE_ID, MCPD_LOG_LEVEL). A mistake in
// the file stops the daemon at start with the file, the key and what is wrong.
#pragma once

#include "catalog/server_config.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

namespace mcpd::daemon {

struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct DaemonConfig {
  std::string node_id;                 // default: the host name

  // NATS. An empty url means: start a local nats-server (the embedded default).
  std::string nats_url;
  std::string nats_user, nats_password, nats_token, nats_creds_file, nats_nkey_seed_file;
  std::string nats_tls_ca_file, nats_tls_cert_file, nats_tls_key_file;
  bool nats_tls_required = false;
  std::string prefix = "mcp";
  std::string queue_group = "mcpd";
  std::string embedded_host = "127.0.0.1";
  int embedded_port = 4222;
  std::string embedded_binary = "nats-server";

  std::string embedded_store_dir;      // JetStream storage of the embedded server; default: beside the catalog

  std::string store_path = "/var/lib/mcpd/catalog.db";

  // [cluster]: JetStream use (auto | on | off), replicas of its buckets, session ownership TTL.
  std::string cluster_jetstream = "auto";
  int cluster_replicas = 1;
  int session_ttl_seconds = 300;

  std::string log_level = "info";
  std::string log_format = "text";     // text | json

  unsigned loop_threads = 1;          // measured: a second thread only adds hand-offs (bench/README.md)
  std::chrono::milliseconds drain_timeout{15'000};
  std::size_t max_request_bytes = 1u << 20;
  std::chrono::milliseconds stop_grace{2'000};
  std::chrono::milliseconds backoff_initial{200}, backoff_max{30'000}, circuit_cooldown{30'000};
  int failures_to_open_circuit = 5;
  nlohmann::json server_defaults = nlohmann::json::object();  // [defaults.server]: MCPServer fields

  std::vector<catalog::ServerConfig> servers;  // [[servers]], imported into the catalog at start
};

// Reads `path` ("" = built-in defaults only), applies environment overrides and validates.
// Throws ConfigError with a message naming the file and key.
DaemonConfig load_config(const std::string& path);

// Applies [defaults.server] to an MCPServer JSON document: fields it does not set are taken
// from the defaults.
nlohmann::json with_server_defaults(const nlohmann::json& server, const nlohmann::json& defaults);

}  // namespace mcpd::daemon
