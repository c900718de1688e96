#include "node/server_factory.hpp"

#include "auth/token_provider.hpp"
#include "transport/http/legacy_sse_transport.hpp"
#include "transport/http/streamable_http_transport.hpp"
#include "transport/stdio_transport.hpp"
#include "transport/worker_transport.hpp"

#include <asio/post.hpp>

#include <mutex>

namespace mcpd::node {
namespace {

// A transport that never starts: it reports why at once. Used for configs that cannot run here.
class FailedTransport final : public transport::Transport, public std::enable_shared_from_this<FailedTransport> {
 public:
  FailedTransport(io::Strand strand, std::string reason) : strand_(std::move(strand)), reason_(std::move(reason)) {}
  const io::Strand& strand() const override { return strand_; }
  void start(Handlers handlers) override {
    asio::post(strand_, [self = shared_from_this(), handlers = std::move(handlers)] {
      transport::Closed c;
      c.reason = self->reason_;
      if (handlers.on_closed) handlers.on_closed(c);
    });
  }
  bool send(std::string) override { return false; }
  void close(std::function<void()> done) override {
    if (done) asio::post(strand_, std::move(done));
  }
  std::string describe() const override { return "unstartable (" + reason_ + ")"; }

 private:
  io::Strand strand_;
  std::string reason_;
};

// One OAuth token provider per server record, made by its first session and shared by the
// rest (the factory may be called from more than one strand).
struct OAuthSlot {
  std::mutex mu;
  std::shared_ptr<auth::TokenProvider> provider;
};

std::shared_ptr<auth::TokenProvider> oauth_provider(const catalog::ServerConfig& c, const security::SecretResolver& secrets,
                                                    const std::string& oauth_dir, OAuthSlot& slot, std::string& problem) {
  std::lock_guard lk(slot.mu);
  if (slot.provider) return slot.provider;
  const auto& a = *c.auth;
  auth::OAuthSettings s;
  s.name = c.name;
  s.server_url = c.url;
  s.client_id = a.client_id;
  s.client_auth = a.client_auth;
  s.scopes = a.scopes;
  s.ca_file = c.ca_file;
  s.tls_verify = c.tls_verify;
  // The grant (tokens, refresh token, a registered client) never goes into the catalog or onto
  // the bus: a file of this node's, which `mcpctl auth login` run here may also write.
  if (!oauth_dir.empty()) s.store_path = oauth_dir + "/" + c.name + ".json";
  s.url_refused = [secrets](const std::string& url) { return secrets.refuses_url(url); };
  if (!a.token_env.empty() || !a.token_file.empty()) {
    auto secret = secrets.bearer_token(a);  // the same reference rules as a bearer token
    if (!secret.ok()) {
      problem = "the OAuth client secret: " + secret.error().message;
      return nullptr;
    }
    s.client_secret = std::move(secret).value();
  }
  slot.provider = auth::TokenProvider::create(std::move(s));
  return slot.provider;
}

// Headers (references resolved) and the bearer token, read at connect time so that secrets
// never sit in the record.
transport::HttpOptions http_options(const catalog::ServerConfig& c, const std::string& label,
                                    const security::SecretResolver& secrets, const std::string& oauth_dir, OAuthSlot& oauth,
                                    std::string& problem) {
  transport::HttpOptions o;
  o.name = label;
  o.url = c.url;
  o.ca_file = c.ca_file;
  o.tls_verify = c.tls_verify;
  o.connect_timeout = std::chrono::seconds(c.connect_timeout_seconds);
  o.max_message_bytes = static_cast<std::size_t>(c.max_message_bytes);
  for (const auto& [k, v] : c.headers) {
    auto value = secrets.expand(v);
    if (!value.ok()) {
      problem = "header " + k + ": " + value.error().message;
      return o;
    }
    o.headers[k] = std::move(value).value();
  }
  if (c.auth && c.auth->type == catalog::AuthType::oauth) {
    o.oauth = oauth_provider(c, secrets, oauth_dir, oauth, problem);
  } else if (c.auth) {
    auto token = secrets.bearer_token(*c.auth);
    if (!token.ok()) {
      problem = token.error().message;
      return o;
    }
    o.bearer_token = std::move(token).value();
  }
  return o;
}

}  // namespace

pool::PoolOptions pool_options(const catalog::ServerConfig& c, const PoolDefaults& d) {
  pool::PoolOptions o;
  o.name = c.name;
  o.min_sessions = c.min_sessions;
  o.max_sessions = c.max_sessions;
  o.max_inflight_per_session = c.max_inflight_per_session;
  o.max_queue = c.max_queue;
  o.isolate_by_session_id = c.isolation == catalog::Isolation::session;
  o.max_isolated_sessions = c.max_isolated_sessions;
  o.idle_ttl = std::chrono::seconds(c.idle_ttl_seconds);
  o.call_timeout = std::chrono::milliseconds(c.call_timeout_ms);
  o.drain_timeout = d.drain_timeout;
  o.backoff = d.backoff;
  o.tool_refresh_interval = d.tool_refresh_interval;
  // Only local processes compete for this node's CPUs while they start.
  o.limit_starts = c.transport == catalog::Transport::stdio;
  return o;
}

pool::SessionFactory session_factory(io::Loop& loop, const catalog::ServerConfig& config, const PoolDefaults& d,
                                     security::SecretResolver secrets) {
  // One log budget for every session of this server (its isolated sessions included).
  auto stderr_budget = std::make_shared<SharedLogBudget>(d.stderr_log_lines_per_minute);
  // Which MCP era the server speaks, found out by its first session and known to the rest.
  auto era = std::make_shared<mcp::EraMemo>();
  auto oauth = std::make_shared<OAuthSlot>();
  return [&loop, config, d, secrets = std::move(secrets), stderr_budget, era, oauth](const std::string& label) {
    mcp::SessionOptions so;
    so.name = config.name;
    so.open_timeout = std::chrono::seconds(config.connect_timeout_seconds);
    so.request_timeout = std::chrono::milliseconds(config.call_timeout_ms);
    so.ping_interval = std::chrono::seconds(config.ping_interval_seconds);
    so.ping_timeout = std::chrono::seconds(10);
    so.json_max_depth = d.json_max_depth;
    auto strand = loop.make_strand();

    std::shared_ptr<transport::Transport> t;
    if (config.transport == catalog::Transport::stdio) {
      transport::StdioOptions o;
      o.name = label;
      o.command = config.command;
      o.args = config.args;
      o.inherit_env = config.inherit_env;
      o.cwd = config.cwd;
      o.eof_grace = d.stop_grace;
      o.term_grace = d.stop_grace;
      o.stderr_budget = stderr_budget;
      o.max_message_bytes = static_cast<std::size_t>(config.max_message_bytes);
      std::string problem;
      for (const auto& [k, v] : config.env) {
        auto value = secrets.expand(v);
        if (!value.ok()) {
          problem = "cannot start: env " + k + ": " + value.error().message;
          break;
        }
        o.env[k] = std::move(value).value();
      }
      if (problem.empty()) {
        t = transport::make_stdio_transport(strand, std::move(o));
      } else {
        t = std::make_shared<FailedTransport>(strand, problem);
      }
    } else if (config.transport == catalog::Transport::builtin) {
      auto main = d.builtins ? d.builtins->make(config.builtin) : std::nullopt;
      if (main) {
        transport::WorkerOptions o;
        o.name = label;
        t = transport::make_worker_transport(strand, std::move(o), std::move(*main));
      } else {
        t = std::make_shared<FailedTransport>(strand, "cannot start: this node hosts no built-in server '" +
                                                          config.builtin + "'");
      }
    } else {
      std::string problem;
      auto o = http_options(config, label, secrets, d.oauth_dir, *oauth, problem);
      if (!problem.empty()) {
        t = std::make_shared<FailedTransport>(strand, "cannot connect: " + problem);
      } else if (config.transport == catalog::Transport::sse) {
        t = transport::make_legacy_sse_transport(strand, std::move(o));
      } else {
        t = transport::make_streamable_http_transport(strand, std::move(o));
      }
    }
    mcp::DualEraOptions eras;
    eras.memo = era;
    return mcp::ClientSession::create(std::move(t), so, mcp::make_dual_era_lifecycle(std::move(eras)));
  };
}

}  // namespace mcpd::node
