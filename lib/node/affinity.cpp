#include "node/affinity.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

namespace mcpd::node {

using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

Affinity::Affinity(std::shared_ptr<bus::Connection> bus, Membership& membership, bus::KvOptions options)
    : bus_(std::move(bus)), membership_(membership), options_(std::move(options)) {}

Affinity::~Affinity() = default;

std::optional<Error> Affinity::start() {
  auto kv = bus::KeyValue::open(*bus_, options_);
  if (!kv.ok()) return Error(kv.error());
  kv_ = std::move(kv).value();
  spdlog::info("session affinity: JetStream bucket {} (ownership expires after {} s unused)", options_.bucket,
               std::chrono::duration_cast<std::chrono::seconds>(options_.ttl).count());
  return std::nullopt;
}

// Keys allow letters, digits and - _ = . /; a session id may hold anything, so it is hex-encoded.
std::string Affinity::key(const std::string& server, const std::string& session_id) {
  static const char* hex = "0123456789abcdef";
  std::string k = server + ".";
  for (unsigned char c : session_id) {
    k.push_back(hex[c >> 4]);
    k.push_back(hex[c & 0xf]);
  }
  return k;
}

std::string Affinity::value() const { return Json{{"node", membership_.self()}}.dump(); }

Result<Affinity::Route> Affinity::claimed(const std::string& k, std::uint64_t revision, bool reset) {
  std::lock_guard lock(mu_);
  owned_[k] = Owned{revision, Clock::now()};
  return Route{reset ? Decision::local_reset : Decision::local, {}};
}

Result<Affinity::Route> Affinity::resolve(const std::string& server, const std::string& session_id) {
  const std::string k = key(server, session_id);
  {
    std::lock_guard lock(mu_);
    auto it = owned_.find(k);
    // Ours: renew now and then so the key does not age out while the session is in use.
    if (it != owned_.end() && Clock::now() - it->second.renewed < options_.ttl / 3) return Route{};
  }
  for (int attempt = 0; attempt < 4; ++attempt) {
    auto current = kv_->get(k);
    if (!current.ok()) return Error(current.error());
    if (!current.value()) {  // nobody owns it: claim it
      auto created = kv_->create(k, value());
      if (created.ok()) {
        std::lock_guard lock(mu_);
        bool had = owned_.count(k) > 0;
        owned_[k] = Owned{created.value(), Clock::now()};
        // It was ours and aged out or was released: the session itself may still be here.
        return Route{had ? Decision::local : Decision::local, {}};
      }
      if (created.conflict()) continue;  // someone else just claimed it: look again
      return Error(created.error());
    }
    const auto& entry = *current.value();
    Json v = Json::parse(entry.value, nullptr, false);
    const std::string owner = v.is_object() ? v.value("node", std::string()) : std::string();
    if (owner == membership_.self()) {
      auto renewed = kv_->update(k, value(), entry.revision);
      if (renewed.conflict()) continue;
      if (!renewed.ok()) return Error(renewed.error());
      std::lock_guard lock(mu_);
      bool ours_here = owned_.count(k) > 0;
      owned_[k] = Owned{renewed.value(), Clock::now()};
      // Owned by our node id but not by this process: we restarted, the session is gone.
      return Route{ours_here ? Decision::local : Decision::local_reset, {}};
    }
    if (!owner.empty() && membership_.alive(owner)) return Route{Decision::forward, owner};
    // The owner is gone: take the session over, atomically against other nodes doing the same.
    auto taken = kv_->update(k, value(), entry.revision);
    if (taken.ok()) {
      spdlog::info("took over session {} of server {} from node {} (gone)", session_id, server,
                   owner.empty() ? "?" : owner);
      return claimed(k, taken.value(), true);
    }
    if (!taken.conflict()) return Error(taken.error());
  }
  return make_error(Errc::unavailable, "could not settle which node owns session '" + session_id + "' of server '" +
                                           server + "' (it kept changing hands)");
}

void Affinity::release(const std::string& server, const std::string& session_id) {
  const std::string k = key(server, session_id);
  std::uint64_t revision = 0;
  {
    std::lock_guard lock(mu_);
    auto it = owned_.find(k);
    if (it == owned_.end()) return;
    revision = it->second.revision;
    owned_.erase(it);
  }
  if (auto err = kv_->erase_if(k, revision); err && err->kind != bus::KvError::Kind::conflict)
    spdlog::debug("releasing session {} of {}: {}", session_id, server, err->message);
}

void Affinity::release_all() {
  std::map<std::string, Owned> all;
  {
    std::lock_guard lock(mu_);
    all.swap(owned_);
  }
  for (const auto& [k, o] : all) kv_->erase_if(k, o.revision);
  if (!all.empty()) spdlog::info("released {} session ownerships", all.size());
}

std::size_t Affinity::owned() const {
  std::lock_guard lock(mu_);
  return owned_.size();
}

}  // namespace mcpd::node
