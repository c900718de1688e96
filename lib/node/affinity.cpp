#include "node/affinity.hpp"

#include "node/replicated_catalog.hpp"

#include "common/json_limits.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

namespace mcpd::node {

using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

Affinity::Affinity(std::shared_ptr<bus::Connection> bus, Membership& membership, bus::KvOptions options)
    : bus_(std::move(bus)), membership_(membership), options_(std::move(options)) {}

Affinity::~Affinity() = default;

Status Affinity::start() {
  auto kv = bus::KeyValue::open(*bus_, options_);
  if (!kv.ok()) return Error(kv.error());
  kv_ = std::move(kv).value();
  // Claims made before the stream has a leader would fail: wait for it.
  if (auto st = wait_for_bucket_leader(*bus_, options_.bucket, std::chrono::seconds(15)); !st.ok()) return st;
  spdlog::info("session affinity: JetStream bucket {} (ownership expires after {} s unused)", options_.bucket,
               std::chrono::duration_cast<std::chrono::seconds>(options_.ttl).count());
  return {};
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

// Records a key this node now holds at `revision`; while draining it is let go at once instead
// (the call is still served here, but nobody should be sent to this node any more).
void Affinity::keep(const std::string& k, std::uint64_t revision) {
  {
    MutexLock lock(mu_);
    if (!draining_) {
      const auto now = Clock::now();
      owned_[k] = Owned{revision, now};
      sweep_locked(now);
      return;
    }
  }
  // Claimed while draining: give it back. Failing that, the key expires with the bucket's TTL.
  if (auto st = kv_->erase_if(k, revision); !st.ok()) spdlog::debug("releasing {}: {}", k, st.error().message);
}

void Affinity::sweep_locked(Clock::time_point now) {
  // A TTL of 0 keeps keys forever: nothing expires, entries go on release only.
  if (options_.ttl.count() <= 0 || now - swept_ < options_.ttl / 3) return;
  swept_ = now;
  // Not renewed for a whole TTL: the key has aged out of the bucket, and with it our claim. If
  // the session is still open here, the next call claims the key again (local, or local_reset
  // when the key still names us: the pool keeps serving the open session either way).
  std::erase_if(owned_, [&](const auto& entry) { return now - entry.second.renewed > options_.ttl; });
}

Result<Affinity::Route> Affinity::resolve(const std::string& server, const std::string& session_id) {
  const std::string k = key(server, session_id);
  bool draining = false;
  {
    MutexLock lock(mu_);
    const auto now = Clock::now();
    sweep_locked(now);
    auto it = owned_.find(k);
    // Ours: renew now and then so the key does not age out while the session is in use.
    if (it != owned_.end() && now - it->second.renewed < options_.ttl / 3) return Route{};
    draining = draining_;
  }
  auto owner_of = [](const bus::KvEntry& entry) {
    auto v = json::parse(entry.value, json::kDefaultMaxDepth);
    return v.ok() && v->is_object() ? v->value("node", std::string()) : std::string();
  };
  // Heartbeats (and what NATS told Membership) decide; the forwarding node finds out for sure
  // (the owner accepts the call, or nobody serves it) and asks again if the owner is gone.
  auto answers = [&](const std::string& owner) { return !owner.empty() && membership_.alive(owner); };
  if (draining) {
    // Leaving: claim nothing. A session another live node owns goes there; any other is served
    // here one last time and left for whoever comes next.
    auto current = kv_->get(k);
    if (current.ok() && current.value()) {
      const std::string owner = owner_of(*current.value());
      if (owner != membership_.self() && answers(owner)) return Route{Decision::forward, owner};
    }
    return Route{};
  }
  for (int attempt = 0; attempt < 4; ++attempt) {
    auto current = kv_->get(k);
    if (!current.ok()) return Error(current.error());
    if (!current.value()) {  // nobody owns it: claim it
      auto created = kv_->create(k, value());
      if (created.ok()) {
        // It may have been ours and aged out or been released: the session itself may still be here.
        keep(k, created.value());
        return Route{};
      }
      if (is_conflict(created)) continue;  // someone else just claimed it: look again
      return Error(created.error());
    }
    const auto& entry = *current.value();
    const std::string owner = owner_of(entry);
    if (owner == membership_.self()) {
      auto renewed = kv_->update(k, value(), entry.revision);
      if (is_conflict(renewed)) continue;
      if (!renewed.ok()) return Error(renewed.error());
      bool ours_here = false;
      {
        MutexLock lock(mu_);
        ours_here = owned_.count(k) > 0;
      }
      keep(k, renewed.value());
      // Owned by our node id but not by this process: we restarted, the session is gone.
      return Route{ours_here ? Decision::local : Decision::local_reset, {}};
    }
    if (answers(owner)) return Route{Decision::forward, owner};
    // The owner is gone: take the session over, atomically against other nodes doing the same.
    auto taken = kv_->update(k, value(), entry.revision);
    if (taken.ok()) {
      spdlog::info("took over session {} of server {} from node {} (gone)", session_id, server,
                   owner.empty() ? "?" : owner);
      keep(k, taken.value());
      return Route{Decision::local_reset, {}};
    }
    if (!is_conflict(taken)) return Error(taken.error());
  }
  return make_error(Errc::unavailable, "could not settle which node owns session '" + session_id + "' of server '" +
                                           server + "' (it kept changing hands)");
}

void Affinity::release(const std::string& server, const std::string& session_id) {
  const std::string k = key(server, session_id);
  std::uint64_t revision = 0;
  {
    MutexLock lock(mu_);
    auto it = owned_.find(k);
    if (it == owned_.end()) return;
    revision = it->second.revision;
    owned_.erase(it);
  }
  if (auto st = kv_->erase_if(k, revision); !st.ok() && !is_conflict(st))
    spdlog::debug("releasing session {} of {}: {}", session_id, server, st.error().message);
}

void Affinity::release_all() {
  std::map<std::string, Owned> all;
  {
    MutexLock lock(mu_);
    draining_ = true;  // from now on nothing is claimed (see keep())
    all.swap(owned_);
  }
  for (const auto& [k, o] : all) {
    // A key that cannot be erased now expires with the bucket's TTL; the others take it then.
    if (auto st = kv_->erase_if(k, o.revision); !st.ok() && !is_conflict(st))
      spdlog::debug("releasing {}: {}", k, st.error().message);
  }
  if (!all.empty()) spdlog::info("released {} session ownerships", all.size());
}

std::size_t Affinity::owned() const {
  MutexLock lock(mu_);
  return owned_.size();
}

}  // namespace mcpd::node
