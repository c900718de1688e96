// mcpd: the daemon. Reads its config, opens the catalog, connects to NATS (or starts an
// embedded nats-server), serves every registered MCP server's tools, and on SIGTERM/SIGINT
// stops taking requests, finishes in-flight calls, stops every child and exits 0.
#include "bus/connection.hpp"
#include "common/version.hpp"
#include "catalog/store.hpp"
#include "config.hpp"
#include "embedded_nats.hpp"
#include "io/loop.hpp"
#include "logging.hpp"
#include "node/manager.hpp"
#include "ops_http.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <optional>
#include <thread>
#include <utility>

#ifdef MCPD_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

namespace {

constexpr const char* kUsage = R"(mcpd — a distributed MCP session-pool daemon over NATS

Usage:
  mcpd [--config FILE]     run a node
  mcpd --check [--config FILE]
                           validate the configuration and exit
  mcpd --version | --help

Without --config (and without MCPD_NATS_URL), mcpd runs with built-in defaults: a local
nats-server on 127.0.0.1:4222 started for you, and the catalog at /var/lib/mcpd/catalog.db.

The embedded nats-server (no [nats] url) requires a login. On its first start mcpd generates
one, user mcpd and a random password, in credentials/local-nats beside the catalog
(/var/lib/mcpd/credentials/local-nats by default; directory mode 0700, file 0600), reuses it
at every start after, and connects with it; mcpctl run by the same user finds it with no flag
(see mcpctl --help). The server's configuration, with that login, is written to
credentials/nats-server.conf. It listens on loopback only, unless [nats.embedded]
allow_remote = true allows another host address.

Environment overrides: MCPD_NATS_URL, MCPD_STORE_PATH, MCPD_NODE_ID, MCPD_LOG_LEVEL,
MCPD_METRICS_LISTEN ([metrics] listen), and for the NATS connection (the [nats] key in
brackets; an empty variable is ignored):
  MCPD_NATS_USER (user)                 MCPD_NATS_PASSWORD (password)
  MCPD_NATS_TOKEN (token)               MCPD_NATS_CREDS (creds_file)
  MCPD_NATS_NKEY_SEED (nkey_seed_file)  MCPD_NATS_TLS_CA (tls_ca_file)
  MCPD_NATS_TLS_CERT (tls_cert_file)    MCPD_NATS_TLS_KEY (tls_key_file)

Callers send NATS requests:
  mcp.<server>.execute      {"tool": "echo", "args": {"message": "hi"}}
  mcp.<server>.list-tools   {}
  mcp.<server>.resources.list | .resources.templates | .prompts.list   {"cursor"?}
  mcp.<server>.resources.read {"uri": "..."}   mcp.<server>.prompts.get {"name": "..."}
  mcp.<server>.complete     {"ref": {...}, "argument": {"name": "...", "value": "..."}}
and administer servers with mcpctl (mcpctl --help). See README.md and config.example.toml.
)";

void notify_systemd([[maybe_unused]] const std::string& state) {
#ifdef MCPD_HAVE_SYSTEMD
  sd_notify(0, state.c_str());
#endif
}

// Imports [[servers]] from the config file; returns those whose definition changed.
std::vector<mcpd::catalog::ServerConfig> import_servers(const mcpd::daemon::DaemonConfig& c, mcpd::catalog::Store& store) {
  std::vector<mcpd::catalog::ServerConfig> changed;
  for (const auto& s : c.servers) {
    auto existing = store.get(s.name);
    if (!existing.ok()) throw std::runtime_error("cannot import server '" + s.name + "': " + existing.error().message);
    if (existing.value() && mcpd::catalog::same_definition(*existing.value(), s)) continue;
    auto stored = store.put(s);
    if (!stored.ok()) throw std::runtime_error("cannot import server '" + s.name + "': " + stored.error().message);
    spdlog::info("[{}] imported from the config file (revision {})", s.name, stored->revision);
    changed.push_back(stored.value());
  }
  return changed;
}

// The embedded server takes only its own generated login: other [nats] login and TLS settings
// are meant for a [nats] url, so they are dropped (with a warning) rather than sent to it.
void use_embedded_login(mcpd::bus::Options& nats, const mcpd::credentials::LocalLogin& login) {
  std::string ignored;
  const std::pair<const char*, std::string*> settings[] = {
      {"user", &nats.user},
      {"password", &nats.password},
      {"token", &nats.token},
      {"creds_file", &nats.creds_file},
      {"nkey_seed_file", &nats.nkey_seed_file},
      {"tls_ca_file", &nats.tls_ca_file},
      {"tls_cert_file", &nats.tls_cert_file},
      {"tls_key_file", &nats.tls_key_file},
  };
  for (auto [key, value] : settings) {
    if (!value->empty()) ignored += (ignored.empty() ? "" : ", ") + std::string(key);
    value->clear();
  }
  if (nats.tls_required) ignored += (ignored.empty() ? "" : ", ") + std::string("tls_required");
  nats.tls_required = false;
  if (!ignored.empty())
    spdlog::warn("[nats] {} ignored: they apply to a [nats] url, and the embedded nats-server takes its own login",
                 ignored);
  nats.user = login.user;
  nats.password = login.password;
}

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out.empty() ? "none" : out;
}

// SIGHUP: reads the config file again and applies what can change while running: the log level
// and the [[servers]] (added, changed, removed; announced to the cluster). A file that does not
// load changes nothing. `config` becomes the file as applied.
void reload(const std::string& path, mcpd::daemon::DaemonConfig& config, mcpd::node::Manager& manager) {
  if (path.empty()) {
    spdlog::info("SIGHUP: no config file (--config) to read again; nothing changed");
    return;
  }
  mcpd::daemon::DaemonConfig fresh;
  try {
    fresh = mcpd::daemon::load_config(path);
  } catch (const std::exception& e) {
    spdlog::error("SIGHUP: the config file was not applied, nothing changed: {}", e.what());
    return;
  }
  const std::pair<const char*, bool> restart_only[] = {
      {"[nats]", fresh.nats_url() != config.nats_url() || fresh.embedded_port != config.embedded_port},
      {"[node] node_id", fresh.node.node_id != config.node.node_id},
      {"[store] path", fresh.store_path != config.store_path},
      {"[metrics] listen", fresh.metrics_listen != config.metrics_listen},
      {"[log] format", fresh.log_format != config.log_format},
  };
  for (auto [what, changed] : restart_only)
    if (changed) spdlog::warn("SIGHUP: {} changed in the file; that takes effect at the next start", what);
  if (fresh.log_level != config.log_level) {
    spdlog::default_logger()->set_level(spdlog::level::from_str(fresh.log_level));
    spdlog::info("SIGHUP: log level {} (was {})", fresh.log_level, config.log_level);
    config.log_level = fresh.log_level;
  }
  const auto r = manager.reload_servers(fresh.servers);
  spdlog::info("SIGHUP: config file {} applied: servers added: {}; changed: {}; removed: {}; unchanged: {}", path,
               join(r.added), join(r.changed), join(r.removed), r.unchanged.size());
  for (const auto& f : r.failed) spdlog::error("SIGHUP: server {}", f);
  config.servers = fresh.servers;
}

int run(mcpd::daemon::DaemonConfig config, const std::string& config_path) {
  // Signals are taken by sigwait() in this thread; every other thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  spdlog::info("mcpd {} starting: node {}", mcpd::kVersion, config.node.node_id);
  for (const auto& w : mcpd::daemon::security_warnings(config)) spdlog::warn("{}", w);
  mcpd::bus::Library nats_library;  // declared first: torn down after every connection
  std::filesystem::path store_path(config.store_path);
  if (store_path.has_parent_path()) {
    std::error_code ec;
    std::filesystem::create_directories(store_path.parent_path(), ec);
  }
  // OAuth grants live beside the catalog (never in it, never on the bus): what `mcpctl auth
  // login --state-dir` names, /var/lib/mcpd by default as for the catalog.
  config.node.pool_defaults.oauth_dir =
      ((store_path.has_parent_path() ? store_path.parent_path() : std::filesystem::path(".")) / "oauth").string();
  auto store = mcpd::catalog::Store::open(config.store_path);
  if (!store.ok()) throw std::runtime_error(store.error().message);
  auto imported = import_servers(config, *store.value());

  mcpd::io::Loop loop(config.loop_threads);
  std::optional<mcpd::daemon::EmbeddedNats> embedded;
  mcpd::bus::Options nats = config.nats;
  if (config.embedded_nats()) {
    std::string js_dir;
    if (config.node.cluster.jetstream != mcpd::node::ClusterOptions::Mode::off) {
      js_dir = config.embedded_store_dir.empty()
                   ? (store_path.has_parent_path() ? store_path.parent_path() / "jetstream" : std::filesystem::path("jetstream")).string()
                   : config.embedded_store_dir;
    }
    mcpd::daemon::EmbeddedNatsOptions e;
    e.binary = config.embedded_binary;
    e.host = config.embedded_host;
    e.port = config.embedded_port;
    e.jetstream_dir = js_dir;
    e.state_dir = store_path.has_parent_path() ? store_path.parent_path() : std::filesystem::path(".");
    embedded.emplace(loop, e);
    nats.servers = {embedded->url()};
    use_embedded_login(nats, embedded->login());
  }
  const std::string url = nats.servers.front();
  auto bus = mcpd::bus::Connection::connect(nats);
  if (!bus.ok()) throw std::runtime_error(bus.error().message);
  if (!bus.value()->connected()) spdlog::warn("NATS at {} is not reachable yet; serving once it is", url);

  // Give NATS a moment before deciding about JetStream (it may still be coming up).
  for (int i = 0; i < 40 && !bus.value()->connected(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  mcpd::node::Manager manager(config.node, loop, *store.value(), bus.value());
  // Up before the node starts: /healthz answers at once, /readyz says 503 until it serves.
  std::optional<mcpd::daemon::OpsHttp> ops;
  if (!config.metrics_listen.empty()) ops.emplace(*mcpd::daemon::parse_listen(config.metrics_listen), manager);
  if (auto st = manager.start(); !st.ok()) throw std::runtime_error(st.error().message);
  for (const auto& s : imported) manager.announce(s);  // other nodes learn of this node's file

  const auto servers = manager.running_servers().size();
  spdlog::info("serving {} MCP servers on {} (subjects {}.<server>.execute, queue group {})", servers, url,
               config.node.subjects.prefix, config.node.queue_group);
  notify_systemd("READY=1\nSTATUS=serving " + std::to_string(servers) + " MCP servers");

  int sig = 0;
  for (;;) {
    sigwait(&signals, &sig);
    if (sig == SIGHUP) {
      reload(config_path, config, manager);
      continue;
    }
    break;
  }
  spdlog::info("{}: draining (up to {} ms for in-flight calls)", ::strsignal(sig), config.drain_timeout().count());
  notify_systemd("STOPPING=1\nSTATUS=draining");
  manager.shutdown(config.drain_timeout());
  bus.value()->drain(std::chrono::seconds(5));
  if (embedded) embedded->stop();
  loop.stop();
  spdlog::info("stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path;
  bool check_only = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      return 0;
    } else if (a == "--version") {
      std::cout << "mcpd " << mcpd::kVersion << "\n";
      return 0;
    } else if (a == "--check") {
      check_only = true;
    } else if ((a == "--config" || a == "-c") && i + 1 < argc) {
      config_path = argv[++i];
    } else if (a.rfind("--config=", 0) == 0) {
      config_path = a.substr(9);
    } else {
      std::cerr << "mcpd: unknown argument '" << a << "'\n\n" << kUsage;
      return 2;
    }
  }
  try {
    auto config = mcpd::daemon::load_config(config_path);
    mcpd::daemon::setup_logging(config.log_level, config.log_format, config.node.node_id);
    if (check_only) {
      std::cout << "configuration OK: node " << config.node.node_id << ", " << config.servers.size()
                << " servers in the file, NATS " << (config.embedded_nats() ? "embedded" : config.nats_url()) << "\n";
      return 0;
    }
    return run(std::move(config), config_path);
  } catch (const std::exception& e) {
    std::cerr << "mcpd: " << e.what() << "\n";
    spdlog::critical("{}", e.what());
    return 1;
  }
}
