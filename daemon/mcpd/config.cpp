#include "config.hpp"

#include "catalog/references.hpp"

#include <arpa/inet.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <cstdlib>
#include <set>
#include <sstream>
#include <utility>

namespace mcpd::daemon {
namespace {

using Json = nlohmann::json;

std::string hostname() {
  char buf[256] = {0};
  if (::gethostname(buf, sizeof buf - 1) == 0 && buf[0]) return buf;
  return "mcpd";
}

// Refuses keys a section does not know: a typo must not silently become a default.
void check_keys(const toml::table& t, const std::string& section, const std::set<std::string>& known,
                const std::string& file) {
  for (const auto& [key, node] : t) {
    if (known.count(std::string(key.str()))) continue;
    std::string list;
    for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
    throw ConfigError(file + ": unknown key '" + std::string(key.str()) + "' in [" + section + "] (known keys: " + list + ")");
  }
}

template <typename T>
void read(const toml::table& t, const char* key, T& out, const std::string& where) {
  const toml::node* n = t.get(key);
  if (!n) return;
  if constexpr (std::is_same_v<T, std::string>) {
    if (!n->is_string()) throw ConfigError(where + "." + key + ": expected a string");
    out = n->as_string()->get();
  } else if constexpr (std::is_same_v<T, bool>) {
    if (!n->is_boolean()) throw ConfigError(where + "." + key + ": expected true or false");
    out = n->as_boolean()->get();
  } else {
    if (!n->is_integer()) throw ConfigError(where + "." + key + ": expected an integer");
    auto v = n->as_integer()->get();
    if (v < 0) throw ConfigError(where + "." + key + ": must not be negative");
    out = static_cast<T>(v);
  }
}

void read_list(const toml::table& t, const char* key, std::vector<std::string>& out, const std::string& where) {
  const toml::node* n = t.get(key);
  if (!n) return;
  if (!n->is_array()) throw ConfigError(where + "." + key + ": expected an array of strings, e.g. [\"a\", \"b\"]");
  out.clear();
  for (const auto& item : *n->as_array()) {
    if (!item.is_string()) throw ConfigError(where + "." + key + ": expected an array of strings");
    out.push_back(item.as_string()->get());
  }
}

void read_ms(const toml::table& t, const char* key, std::chrono::milliseconds& out, const std::string& where) {
  std::int64_t v = out.count();
  read(t, key, v, where);
  out = std::chrono::milliseconds(v);
}

// The TOML table as JSON (same field names as the MCPServer JSON).
Json to_json(const toml::table& t) {
  std::ostringstream os;
  os << toml::json_formatter{t};
  return Json::parse(os.str());
}

const toml::table* section(const toml::table& root, const char* name, const std::string& file) {
  const toml::node* n = root.get(name);
  if (!n) return nullptr;
  if (!n->is_table()) throw ConfigError(file + ": [" + name + "] must be a table");
  return n->as_table();
}

// 127.0.0.0/8, ::1 or localhost: where the embedded nats-server may listen without allow_remote.
bool is_loopback(const std::string& host) {
  if (host == "localhost" || host == "::1" || host == "[::1]") return true;
  in_addr v4{};
  return ::inet_pton(AF_INET, host.c_str(), &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127;
}

void set_url(DaemonConfig& c, const std::string& url) {
  c.nats.servers.clear();
  if (!url.empty()) c.nats.servers.push_back(url);
}

void apply_environment(DaemonConfig& c) {
  if (const char* v = std::getenv("MCPD_NATS_URL")) set_url(c, v);
  if (const char* v = std::getenv("MCPD_STORE_PATH")) c.store_path = v;
  if (const char* v = std::getenv("MCPD_NODE_ID")) c.node.node_id = v;
  if (const char* v = std::getenv("MCPD_LOG_LEVEL")) c.log_level = v;
  if (const char* v = std::getenv("MCPD_METRICS_LISTEN")) c.metrics_listen = v;
  // NATS authentication and TLS, the same variables mcpctl reads. An empty variable is ignored
  // (so an empty line in an EnvironmentFile does not undo the config file).
  const std::pair<const char*, std::string bus::Options::*> nats_keys[] = {
      {"MCPD_NATS_USER", &bus::Options::user},
      {"MCPD_NATS_PASSWORD", &bus::Options::password},
      {"MCPD_NATS_TOKEN", &bus::Options::token},
      {"MCPD_NATS_CREDS", &bus::Options::creds_file},
      {"MCPD_NATS_NKEY_SEED", &bus::Options::nkey_seed_file},
      {"MCPD_NATS_TLS_CA", &bus::Options::tls_ca_file},
      {"MCPD_NATS_TLS_CERT", &bus::Options::tls_cert_file},
      {"MCPD_NATS_TLS_KEY", &bus::Options::tls_key_file},
  };
  for (const auto& [name, field] : nats_keys)
    if (const char* v = std::getenv(name); v && *v) c.nats.*field = v;
}

void check_security(const security::Policy& p, const std::string& file) {
  for (const auto& cmd : p.allowed_commands)
    if (cmd.empty() || (cmd.find('/') != std::string::npos && cmd[0] != '/'))
      throw ConfigError(file + ": security.allowed_commands: '" + cmd +
                        "' must be a program name (\"npx\"), an absolute path, or a directory ending in '/'");
  for (const auto& host : p.allowed_urls)
    if (host.empty() || host.find_first_of("/@ ") != std::string::npos)
      throw ConfigError(file + ": security.allowed_urls: '" + host +
                        "' must be a host pattern such as \"api.example.com\", \"*.example.com\" or \"127.0.0.1:8080\" "
                        "(no scheme or path)");
  for (const auto& name : p.secret_env) {
    std::string_view n = name;
    if (n.ends_with('*')) n.remove_suffix(1);
    if (n.empty() || !catalog::valid_env_name(n))
      throw ConfigError(file + ": security.secret_env: '" + name +
                        "' must be a variable name, or a prefix ending in '*' (e.g. \"MCPD_SECRET_*\")");
  }
  if (!p.secrets_dir.empty() && p.secrets_dir[0] != '/')
    throw ConfigError(file + ": security.secrets_dir must be an absolute path, got '" + p.secrets_dir + "'");
  if (p.max_secret_file_bytes < 1 || p.max_secret_file_bytes > (1u << 20))
    throw ConfigError(file + ": security.max_secret_file_bytes must be 1..1048576");
}

}  // namespace

std::vector<std::string> security_warnings(const DaemonConfig& c) {
  std::vector<std::string> out;
  const auto& n = c.nats;
  const bool authenticated = c.embedded_nats() || !n.user.empty() || !n.token.empty() || !n.creds_file.empty() ||
                             !n.nkey_seed_file.empty() || !n.tls_cert_file.empty();
  const auto& p = c.node.security;
  if (!authenticated && p.remote_registration && p.allowed_commands.empty())
    out.push_back("NATS at " + c.nats_url() +
                  " is used without authentication and [security] allowed_commands is empty: anyone who can publish "
                  "there can make this node run any program as its user. Require NATS logins with permissions "
                  "(deploy/nats/), and set [security] allowed_commands (or remote_registration = false)");
  return out;
}

std::optional<ListenAddress> parse_listen(const std::string& text) {
  ListenAddress a;
  std::string port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') return std::nullopt;
    a.host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string::npos || text.find(':') != colon) return std::nullopt;
    a.host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  if (a.host.empty() || port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  a.port = std::stoi(port);
  if (a.port > 65535) return std::nullopt;
  return a;
}

Json with_server_defaults(const Json& server, const Json& defaults) {
  Json out = server;
  for (auto it = defaults.begin(); it != defaults.end(); ++it)
    if (!out.contains(it.key())) out[it.key()] = it.value();
  return out;
}

DaemonConfig load_config(const std::string& path) {
  DaemonConfig c;
  c.node.node_id = hostname();
  c.nats.retry_on_failed_connect = true;  // start while NATS is down; serve once it is up
  std::string url, jetstream = "auto";
  int session_ttl_seconds = static_cast<int>(c.node.cluster.session_ttl.count());
  auto& pool = c.node.pool_defaults;
  toml::table root;
  if (!path.empty()) {
    try {
      root = toml::parse_file(path);
    } catch (const toml::parse_error& e) {
      std::ostringstream os;
      os << path << ":" << e.source().begin.line << ":" << e.source().begin.column << ": " << e.description();
      throw ConfigError(os.str());
    }
  }
  check_keys(root, "top level", {"node", "nats", "store", "log", "defaults", "servers", "cluster", "limits", "security", "tasks", "metrics"}, path);

  if (auto* t = section(root, "node", path)) {
    check_keys(*t, "node", {"id", "loop_threads", "max_sessions", "max_concurrent_starts", "max_live_processes"}, path);
    read(*t, "id", c.node.node_id, "node");
    read(*t, "loop_threads", c.loop_threads, "node");
    read(*t, "max_sessions", c.node.pool_defaults.node_limits.max_sessions, "node");
    read(*t, "max_concurrent_starts", c.node.pool_defaults.node_limits.max_concurrent_starts, "node");
    read(*t, "max_live_processes", c.node.pool_defaults.node_limits.max_live_processes, "node");
  }
  if (auto* t = section(root, "nats", path)) {
    check_keys(*t, "nats",
               {"url", "user", "password", "token", "creds_file", "nkey_seed_file", "tls_ca_file", "tls_cert_file",
                "tls_key_file", "tls_required", "prefix", "queue_group", "embedded"},
               path);
    read(*t, "url", url, "nats");
    set_url(c, url);
    read(*t, "user", c.nats.user, "nats");
    read(*t, "password", c.nats.password, "nats");
    read(*t, "token", c.nats.token, "nats");
    read(*t, "creds_file", c.nats.creds_file, "nats");
    read(*t, "nkey_seed_file", c.nats.nkey_seed_file, "nats");
    read(*t, "tls_ca_file", c.nats.tls_ca_file, "nats");
    read(*t, "tls_cert_file", c.nats.tls_cert_file, "nats");
    read(*t, "tls_key_file", c.nats.tls_key_file, "nats");
    read(*t, "tls_required", c.nats.tls_required, "nats");
    read(*t, "prefix", c.node.subjects.prefix, "nats");
    read(*t, "queue_group", c.node.queue_group, "nats");
    if (auto* e = section(*t, "embedded", path)) {
      check_keys(*e, "nats.embedded", {"host", "port", "binary", "store_dir", "allow_remote"}, path);
      read(*e, "store_dir", c.embedded_store_dir, "nats.embedded");
      read(*e, "host", c.embedded_host, "nats.embedded");
      read(*e, "port", c.embedded_port, "nats.embedded");
      read(*e, "binary", c.embedded_binary, "nats.embedded");
      read(*e, "allow_remote", c.embedded_allow_remote, "nats.embedded");
    }
  }
  if (auto* t = section(root, "store", path)) {
    check_keys(*t, "store", {"path"}, path);
    read(*t, "path", c.store_path, "store");
  }
  if (auto* t = section(root, "cluster", path)) {
    check_keys(*t, "cluster", {"jetstream", "replicas", "session_ttl_seconds"}, path);
    read(*t, "jetstream", jetstream, "cluster");
    read(*t, "replicas", c.node.cluster.replicas, "cluster");
    read(*t, "session_ttl_seconds", session_ttl_seconds, "cluster");
  }
  if (auto* t = section(root, "tasks", path)) {
    check_keys(*t, "tasks", {"default_ttl_ms", "max_ttl_ms", "lease_ms", "max_running"}, path);
    read_ms(*t, "default_ttl_ms", c.node.tasks.default_ttl, "tasks");
    read_ms(*t, "max_ttl_ms", c.node.tasks.max_ttl, "tasks");
    // A maximum below the default TTL lowers the default too, unless the default was given.
    if (!t->contains("default_ttl_ms")) c.node.tasks.default_ttl = std::min(c.node.tasks.default_ttl, c.node.tasks.max_ttl);
    read_ms(*t, "lease_ms", c.node.tasks.lease, "tasks");
    read(*t, "max_running", c.node.tasks.max_running, "tasks");
  }
  if (auto* t = section(root, "metrics", path)) {
    check_keys(*t, "metrics", {"listen"}, path);
    read(*t, "listen", c.metrics_listen, "metrics");
  }
  if (auto* t = section(root, "log", path)) {
    check_keys(*t, "log", {"level", "format"}, path);
    read(*t, "level", c.log_level, "log");
    read(*t, "format", c.log_format, "log");
  }
  if (auto* t = section(root, "defaults", path)) {
    check_keys(*t, "defaults",
               {"drain_timeout_ms", "max_request_bytes", "stop_grace_ms", "restart_backoff_initial_ms",
                "restart_backoff_max_ms", "failures_to_open_circuit", "circuit_cooldown_ms", "tool_refresh_interval_ms", "stderr_log_lines_per_minute", "server"},
               path);
    read_ms(*t, "drain_timeout_ms", pool.drain_timeout, "defaults");
    read(*t, "max_request_bytes", c.node.max_request_bytes, "defaults");
    read_ms(*t, "stop_grace_ms", pool.stop_grace, "defaults");
    read_ms(*t, "restart_backoff_initial_ms", pool.backoff.initial, "defaults");
    read_ms(*t, "restart_backoff_max_ms", pool.backoff.max, "defaults");
    read(*t, "failures_to_open_circuit", pool.backoff.failures_to_open, "defaults");
    read_ms(*t, "circuit_cooldown_ms", pool.backoff.cooldown, "defaults");
    read_ms(*t, "tool_refresh_interval_ms", pool.tool_refresh_interval, "defaults");
    read(*t, "stderr_log_lines_per_minute", pool.stderr_log_lines_per_minute, "defaults");
    if (auto* s = section(*t, "server", path)) c.server_defaults = to_json(*s);
  }
  if (auto* t = section(root, "limits", path)) {
    check_keys(*t, "limits", {"json_max_depth"}, path);
    read(*t, "json_max_depth", c.node.json_max_depth, "limits");
    if (c.node.json_max_depth < 16 || c.node.json_max_depth > 1000)
      throw ConfigError(path + ": limits.json_max_depth must be 16..1000");
  }
  if (auto* t = section(root, "security", path)) {
    auto& p = c.node.security;
    check_keys(*t, "security",
               {"allowed_commands", "allowed_urls", "remote_registration", "secret_env", "secrets_dir",
                "max_secret_file_bytes"},
               path);
    read_list(*t, "allowed_commands", p.allowed_commands, "security");
    read_list(*t, "allowed_urls", p.allowed_urls, "security");
    read(*t, "remote_registration", p.remote_registration, "security");
    read_list(*t, "secret_env", p.secret_env, "security");
    read(*t, "secrets_dir", p.secrets_dir, "security");
    read(*t, "max_secret_file_bytes", p.max_secret_file_bytes, "security");
  }
  apply_environment(c);
  check_security(c.node.security, path);

  if (const toml::node* servers = root.get("servers")) {
    if (!servers->is_array_of_tables()) throw ConfigError(path + ": 'servers' must be [[servers]] tables");
    int i = 0;
    for (const auto& entry : *servers->as_array()) {
      ++i;
      Json j = with_server_defaults(to_json(*entry.as_table()), c.server_defaults);
      auto parsed = catalog::parse_server_config(j);
      if (!parsed.ok())
        throw ConfigError(path + ": [[servers]] #" + std::to_string(i) +
                          (j.contains("name") && j["name"].is_string() ? " (" + j["name"].get<std::string>() + ")" : "") +
                          ": " + parsed.error().message);
      c.servers.push_back(std::move(parsed).value());
    }
  }
  c.node.own_servers = c.servers;  // always run as written (node/admission.hpp)

  if (!c.metrics_listen.empty() && !parse_listen(c.metrics_listen))
    throw ConfigError(path + ": metrics.listen (or MCPD_METRICS_LISTEN) must be HOST:PORT, e.g. \"127.0.0.1:9464\", "
                             "\"[::1]:9464\" or \"0.0.0.0:9464\"; got \"" + c.metrics_listen + "\"");
  if (c.log_format != "text" && c.log_format != "json")
    throw ConfigError(path + ": log.format must be \"text\" or \"json\", got \"" + c.log_format + "\"");
  if (c.loop_threads == 0 || c.loop_threads > 64) throw ConfigError(path + ": node.loop_threads must be 1..64");
  const auto& limits = c.node.pool_defaults.node_limits;
  if (limits.max_sessions < 0 || limits.max_sessions > 1'000'000)
    throw ConfigError(path + ": node.max_sessions must be 0 (no limit) to 1000000");
  if (limits.max_concurrent_starts < 0 || limits.max_concurrent_starts > 10'000)
    throw ConfigError(path + ": node.max_concurrent_starts must be 0 (no limit) to 10000");
  if (limits.max_live_processes < 0 || limits.max_live_processes > 1'000'000)
    throw ConfigError(path + ": node.max_live_processes must be 0 (no limit) to 1000000");
  const auto& tk = c.node.tasks;
  if (tk.max_ttl.count() < 1000 || tk.max_ttl.count() > 2'592'000'000LL)
    throw ConfigError(path + ": tasks.max_ttl_ms must be 1000 (1 s) to 2592000000 (30 days)");
  if (tk.default_ttl.count() < 1 || tk.default_ttl > tk.max_ttl)
    throw ConfigError(path + ": tasks.default_ttl_ms must be 1 to tasks.max_ttl_ms (" + std::to_string(tk.max_ttl.count()) + ")");
  if (tk.lease.count() < 300 || tk.lease.count() > 600'000)
    throw ConfigError(path + ": tasks.lease_ms must be 300 to 600000");
  if (tk.max_running < 1 || tk.max_running > 1'000'000) throw ConfigError(path + ": tasks.max_running must be 1 to 1000000");
  if (c.embedded_port <= 0 || c.embedded_port > 65535) throw ConfigError(path + ": nats.embedded.port must be 1..65535");
  if (c.embedded_nats() && !c.embedded_allow_remote && !is_loopback(c.embedded_host))
    throw ConfigError(path + ": [nats.embedded] host = \"" + c.embedded_host +
                      "\" is not a loopback address: the embedded nats-server would take connections from other "
                      "machines. Use host = \"127.0.0.1\", or set [nats.embedded] allow_remote = true to allow it "
                      "(it still requires the login in credentials/local-nats)");
  const std::string& prefix = c.node.subjects.prefix;
  if (prefix.empty() || prefix.find_first_of(" *>") != std::string::npos)
    throw ConfigError(path + ": nats.prefix must be a NATS subject without spaces or wildcards");
  const std::string& id = c.node.node_id;
  if (id.empty()) throw ConfigError("node id is empty (set [node] id or MCPD_NODE_ID)");
  if (id.find_first_of(" .*>") != std::string::npos)
    throw ConfigError("node id '" + id + "' may not contain spaces, '.', '*' or '>' (it is part of NATS subjects)");
  using Mode = node::ClusterOptions::Mode;
  if (jetstream == "auto") c.node.cluster.jetstream = Mode::automatic;
  else if (jetstream == "on") c.node.cluster.jetstream = Mode::on;
  else if (jetstream == "off") c.node.cluster.jetstream = Mode::off;
  else throw ConfigError(path + ": cluster.jetstream must be \"auto\", \"on\" or \"off\", got \"" + jetstream + "\"");
  if (c.node.cluster.replicas < 1 || c.node.cluster.replicas > 5) throw ConfigError(path + ": cluster.replicas must be 1..5");
  if (session_ttl_seconds < 5 || session_ttl_seconds > 604800)
    throw ConfigError(path + ": cluster.session_ttl_seconds must be 5..604800");
  c.node.cluster.session_ttl = std::chrono::seconds(session_ttl_seconds);
  c.nats.name = "mcpd/" + id;
  return c;
}

}  // namespace mcpd::daemon
