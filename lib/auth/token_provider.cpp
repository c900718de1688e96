#include "auth/token_provider.hpp"

#include "auth/crypto.hpp"
#include "auth/discovery.hpp"
#include "auth/internal/flow.hpp"
#include "auth/token_cache.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <mutex>
#include <thread>

namespace mcpd::auth {
namespace {

using internal::Client;
using internal::FetchOptions;
using internal::form_encode;

Error failure(std::string message) { return make_error(Errc::unavailable, std::move(message)); }

// The grant file's modification time, to notice a grant written by `mcpctl auth login`.
std::filesystem::file_time_type mtime_of(const std::string& path) {
  std::error_code ec;
  auto t = std::filesystem::last_write_time(path, ec);
  return ec ? std::filesystem::file_time_type{} : t;
}

}  // namespace

struct TokenProvider::State {
  std::mutex mu;
  TokenCache cache;
  std::vector<Done> waiters;
  std::string challenge;
  bool refresh_wanted = false;
  bool busy = false;
  std::thread worker;
  std::filesystem::file_time_type loaded{};  // the grant file's mtime when last read
};

std::shared_ptr<TokenProvider> TokenProvider::create(OAuthSettings settings) {
  auto p = std::shared_ptr<TokenProvider>(new TokenProvider(std::move(settings)));
  if (!p->settings_.store_path.empty()) {
    auto g = load_grant(p->settings_.store_path);
    if (!g.ok()) {
      spdlog::warn("[{}] OAuth: {}; starting without a stored grant", p->settings_.name, g.error().message);
    } else if (g.value()) {
      // A grant stored for another client (the record changed) is not this record's.
      if (p->settings_.client_id.empty() || g.value()->client_id == p->settings_.client_id) p->state_->cache.set(*g.value());
    }
    p->state_->loaded = mtime_of(p->settings_.store_path);
  }
  return p;
}

TokenProvider::TokenProvider(OAuthSettings settings)
    : settings_(std::move(settings)), state_(std::make_unique<State>()) {
  state_->cache = TokenCache(settings_.refresh_margin);
}

TokenProvider::~TokenProvider() {
  if (!state_->worker.joinable()) return;
  // The worker holds a reference while it runs, so the last one may be dropped on it.
  if (state_->worker.get_id() == std::this_thread::get_id()) state_->worker.detach();
  else state_->worker.join();
}

std::optional<std::string> TokenProvider::current() {
  std::lock_guard lk(state_->mu);
  const auto now = Clock::now();
  auto t = state_->cache.usable(now);
  if (state_->cache.needs_refresh(now) && !state_->busy) {
    state_->refresh_wanted = true;
    start_worker_locked();
  }
  return t;
}

void TokenProvider::acquire(std::string challenge, std::string refused, Done done) {
  std::lock_guard lk(state_->mu);
  if (!refused.empty() && state_->cache.grant().access_token == refused) state_->cache.drop_access();
  state_->waiters.push_back(std::move(done));
  if (!challenge.empty()) state_->challenge = std::move(challenge);
  if (!state_->busy) start_worker_locked();
}

void TokenProvider::start_worker_locked() {
  state_->busy = true;
  // A finished worker only has its return left to run: joining it here cannot wait long.
  if (state_->worker.joinable()) state_->worker.join();
  state_->worker = std::thread([self = shared_from_this()] { self->run(); });
}

// ---- the flow, on the worker thread --------------------------------------------------------

namespace {

class Flow {
 public:
  Flow(const OAuthSettings& s, TokenProvider::State& st) : s_(s), st_(st) {
    fo_.ca_file = s.ca_file;
    fo_.tls_verify = s.tls_verify;
    fo_.timeout = s.request_timeout;
    fo_.url_refused = s.url_refused;
  }

  Result<std::string> run(const std::string& challenge_header) {
    Challenge ch = parse_www_authenticate(challenge_header).value_or(Challenge{});
    const bool step_up = ch.error == "insufficient_scope";
    Grant g;
    {
      std::lock_guard lk(st_.mu);
      reload_locked();
      if (!step_up)
        if (auto t = st_.cache.fresh(Clock::now())) return *t;  // another request already got one
      g = st_.cache.grant();
    }
    if (!g.refresh_token.empty() && !g.token_endpoint.empty() && !step_up) {
      auto t = refresh(g);
      if (t.ok()) return t;
      spdlog::info("[{}] OAuth: the refresh token was not accepted ({}); asking for a new grant", s_.name,
                   t.error().message);
    }
    return client_credentials(ch, g);
  }

 private:
  // A grant `mcpctl auth login` wrote since we last looked replaces ours.
  void reload_locked() {
    if (s_.store_path.empty()) return;
    auto m = mtime_of(s_.store_path);
    if (m == st_.loaded) return;
    st_.loaded = m;
    auto g = load_grant(s_.store_path);
    if (g.ok() && g.value() && (s_.client_id.empty() || g.value()->client_id == s_.client_id)) {
      st_.cache.set(*g.value());
      spdlog::info("[{}] OAuth: took the grant stored in {}", s_.name, s_.store_path);
    }
  }

  Client client_of(const Grant& g) const {
    Client c{s_.client_id, s_.client_secret, s_.client_auth};
    if (c.id.empty()) c = Client{g.client_id, g.client_secret, g.client_auth};
    return c;
  }

  Result<std::string> refresh(const Grant& g) {
    Client c = client_of(g);
    if (c.method.empty()) c.method = internal::pick_method(c, {});
    std::string body = "grant_type=refresh_token&refresh_token=" + form_encode(g.refresh_token);
    if (!g.resource.empty()) body += "&resource=" + form_encode(g.resource);
    return finish(internal::token_request(g.token_endpoint, g.token_endpoint, body, c, fo_, "refresh_token"), g, c,
                  "refresh_token");
  }

  Result<std::string> client_credentials(const Challenge& ch, Grant g) {
    auto found = internal::discover(s_.name, s_.server_url, ch, fo_);
    if (!found.ok()) return found.error();
    const internal::Discovered& d = found.value();
    const auto& grants = d.as.grant_types_supported;
    if (!grants.empty() && std::find(grants.begin(), grants.end(), "client_credentials") == grants.end())
      return failure("OAuth: the authorization server " + d.as.issuer + " does not offer the client_credentials grant; "
                     "authorize a user once with `mcpctl auth login " + s_.name + "` on this node");
    const std::string scope = select_scope(s_.scopes, ch.scope, d.scopes_supported);

    // The client: configured, stored from an earlier registration, or registered now.
    Client c = client_of(g);
    if (c.id.empty()) {
      internal::Registration reg;
      reg.grant_types = {"client_credentials"};
      reg.scope = scope;
      auto r = internal::register_client(s_.name, d.as, reg, fo_);
      if (!r.ok()) return r.error();
      c = std::move(r).value();
    }
    if (c.method.empty()) c.method = internal::pick_method(c, d.as.token_endpoint_auth_methods_supported);

    g.client_id = c.id;
    g.client_secret = s_.client_id.empty() ? c.secret : std::string();  // configured secrets stay references
    g.client_auth = s_.client_id.empty() ? c.method : std::string();
    g.resource = d.resource;
    g.token_endpoint = d.as.token_endpoint;
    g.scope = scope;
    g.refresh_token.clear();
    std::string body = "grant_type=client_credentials";
    if (!scope.empty()) body += "&scope=" + form_encode(scope);
    body += "&resource=" + form_encode(d.resource);
    return finish(internal::token_request(d.as.token_endpoint, d.as.issuer, body, c, fo_, "client_credentials"), g, c,
                  "client_credentials");
  }

  Result<std::string> finish(Result<TokenResponse> t, const Grant& base, const Client& c, const char* grant) {
    if (!t.ok()) return t.error();
    Grant g;
    {
      std::lock_guard lk(st_.mu);
      st_.cache.set(base);
      st_.cache.put(t.value(), Clock::now());
      g = st_.cache.grant();
      if (!s_.store_path.empty()) {
        if (auto st = save_grant(s_.store_path, g); !st.ok()) spdlog::warn("[{}] OAuth: {}", s_.name, st.error().message);
        st_.loaded = mtime_of(s_.store_path);
      }
    }
    spdlog::info("[{}] OAuth: got an access token from {} ({}, {} s, {})", s_.name, g.token_endpoint, grant,
                 t->expires_in.count(), c.method);
    return t->access_token;
  }

  const OAuthSettings& s_;
  TokenProvider::State& st_;
  FetchOptions fo_;
};

}  // namespace

void TokenProvider::run() {
  for (;;) {
    std::vector<Done> waiters;
    std::string challenge;
    {
      std::lock_guard lk(state_->mu);
      if (state_->waiters.empty() && !state_->refresh_wanted) {
        state_->busy = false;
        return;
      }
      waiters.swap(state_->waiters);
      challenge = std::exchange(state_->challenge, std::string());
      state_->refresh_wanted = false;
    }
    Flow flow(settings_, *state_);
    Result<std::string> r = flow.run(challenge);
    if (!r.ok()) spdlog::warn("[{}] {}", settings_.name, r.error().message);
    for (auto& w : waiters)
      if (w) w(r);
  }
}

}  // namespace mcpd::auth
