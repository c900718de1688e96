#include "node/pool_registry.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <atomic>

namespace mcpd::node {

PoolRegistry::PoolRegistry(io::Loop& loop, catalog::Store& store, const Admission& admission, PoolDefaults defaults,
                           IsolatedClosed on_isolated_closed)
    : loop_(loop),
      store_(store),
      admission_(admission),
      defaults_(std::move(defaults)),
      on_isolated_closed_(std::move(on_isolated_closed)),
      limits_(pool::NodeLimits::create(defaults_.node_limits)) {}

Status PoolRegistry::sync(const std::string& name) {
  std::shared_ptr<pool::SessionPool> old;
  std::optional<catalog::ServerConfig> config;
  Status admitted;
  {
    MutexLock lock(mu_);
    auto latest = store_.get(name);
    if (!latest.ok()) return latest.error();
    config = std::move(latest).value();
    if (config && config->enabled) admitted = admission_.may_run(*config);
    if (admitted.ok()) refused_.erase(name);
    else refused_.insert_or_assign(name, admitted.error());
    auto it = running_.find(name);
    if (it != running_.end() && admitted.ok() && config && catalog::same_definition(it->second.config, *config)) {
      it->second.config = *config;  // same pool; newer bookkeeping
      return {};
    }
    if (it != running_.end()) {
      old = std::move(it->second.pool);
      running_.erase(it);
    }
    if (config && config->enabled && admitted.ok()) {
      auto po = pool_options(*config, defaults_);
      po.limits = limits_;
      po.on_isolated_closed = [cb = on_isolated_closed_, server = name](const std::string& session_id) {
        if (cb) cb(server, session_id);
      };
      auto p = pool::SessionPool::create(loop_, std::move(po), session_factory(loop_, *config, defaults_, admission_.resolver(*config)));
      p->start();
      running_.emplace(name, Running{*config, p});
    }
  }
  if (!admitted.ok()) {
    spdlog::warn("[{}] not run (revision {}): {}{}", name, config->revision, admitted.error().message,
                 old ? "; stopping the sessions of its previous definition" : "");
    if (old) old->close();
    return {};
  }
  if (old) {
    spdlog::info("[{}] {}", name,
                 !config ? "deleted; stopping" : "configuration changed (revision " + std::to_string(config->revision) + "); replacing its sessions");
    old->close();
  } else if (config && config->enabled) {
    spdlog::info("[{}] serving ({} {})", name, catalog::to_string(config->transport),
                 config->transport == catalog::Transport::stdio     ? config->command
                 : config->transport == catalog::Transport::builtin ? config->builtin
                                                                    : config->url);
  }
  if (config && !config->enabled) spdlog::info("[{}] disabled; not serving", name);
  return {};
}

void PoolRegistry::stop_if_deleted(const std::string& name, std::function<void()> done) {
  std::shared_ptr<pool::SessionPool> p;
  {
    MutexLock lock(mu_);
    if (refused_.contains(name))
      if (auto current = store_.get(name); current.ok() && !current.value()) refused_.erase(name);
    auto it = running_.find(name);
    // A deletion that lost a race to a newer put leaves the server running. A catalog that
    // cannot be read is no proof of deletion either: keep serving.
    if (it != running_.end()) {
      auto current = store_.get(name);
      if (!current.ok()) {
        spdlog::error("[{}] not stopped: {}", name, current.error().message);
      } else if (!current.value()) {
        p = std::move(it->second.pool);
        running_.erase(it);
      }
    }
  }
  if (!p) {
    if (done) done();
    return;
  }
  spdlog::info("[{}] stopping", name);
  p->close(std::move(done));
}

void PoolRegistry::stop_all(std::function<void()> done, std::optional<std::chrono::milliseconds> drain) {
  std::vector<std::shared_ptr<pool::SessionPool>> pools;
  {
    MutexLock lock(mu_);
    for (auto& [name, r] : running_) pools.push_back(std::move(r.pool));
    running_.clear();
  }
  if (pools.empty()) {
    if (done) done();
    return;
  }
  auto remaining = std::make_shared<std::atomic<std::size_t>>(pools.size());
  auto finish = std::make_shared<std::function<void()>>(std::move(done));
  for (auto& p : pools) {
    p->close(
        [remaining, finish] {
          if (--*remaining == 0 && *finish) (*finish)();
        },
        drain);
  }
}

std::shared_ptr<pool::SessionPool> PoolRegistry::find(const std::string& name) const {
  MutexLock lock(mu_);
  auto it = running_.find(name);
  return it == running_.end() ? nullptr : it->second.pool;
}

std::optional<Error> PoolRegistry::refusal(const std::string& name) const {
  MutexLock lock(mu_);
  auto it = refused_.find(name);
  if (it == refused_.end()) return std::nullopt;
  return it->second;
}

std::vector<std::string> PoolRegistry::names() const {
  std::vector<std::string> out;
  MutexLock lock(mu_);
  for (const auto& [name, r] : running_) out.push_back(name);
  return out;
}

std::vector<std::pair<std::string, std::shared_ptr<pool::SessionPool>>> PoolRegistry::pools() const {
  std::vector<std::pair<std::string, std::shared_ptr<pool::SessionPool>>> out;
  MutexLock lock(mu_);
  out.reserve(running_.size());
  for (const auto& [name, r] : running_) out.emplace_back(name, r.pool);
  return out;
}

std::size_t PoolRegistry::size() const {
  MutexLock lock(mu_);
  return running_.size();
}

nlohmann::json PoolRegistry::status() const {
  nlohmann::json servers = nlohmann::json::object();
  MutexLock lock(mu_);
  for (const auto& [name, r] : running_) {
    auto s = r.pool->stats();
    servers[name] = {{"revision", r.config.revision},
                     {"sessions_ready", s.sessions_ready},
                     {"sessions_starting", s.sessions_starting},
                     {"isolated_sessions", s.isolated_sessions},
                     {"in_flight", s.in_flight},
                     {"queued", s.queued},
                     {"calls", s.calls},
                     {"restarts", s.restarts},
                     {"circuit", pool::to_string(s.circuit)},
                     {"last_error", s.last_error}};
  }
  return servers;
}

}  // namespace mcpd::node
