#include "node/replicated_catalog.hpp"

#include "common/json_limits.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <set>
#include <thread>

namespace mcpd::node {

using Json = nlohmann::json;

namespace {
std::optional<catalog::ServerConfig> decode(const bus::KvEntry& e) {
  auto doc = json::parse(e.value, json::kDefaultMaxDepth);
  if (!doc.ok() || !doc->is_object()) return std::nullopt;
  Json j = std::move(doc).value();
  j["revision"] = static_cast<std::int64_t>(e.revision);
  auto parsed = catalog::parse_server_config(j);
  if (!parsed.ok()) {
    spdlog::warn("catalog bucket: ignored the record of '{}': {}", e.key, parsed.error().message);
    return std::nullopt;
  }
  return std::move(parsed).value();
}

std::string encode(catalog::ServerConfig c) {
  c.revision = 0;  // the bucket's revision is the record's revision
  Json j = catalog::to_json(c);
  j.erase("revision");
  return j.dump();
}
}  // namespace

ReplicatedCatalog::ReplicatedCatalog(std::shared_ptr<bus::Connection> bus, catalog::Store& store, bus::KvOptions options,
                                     Hooks hooks)
    : bus_(std::move(bus)), store_(store), options_(std::move(options)), hooks_(std::move(hooks)) {}

ReplicatedCatalog::~ReplicatedCatalog() {
  watch_.reset();
  kv_.reset();
}

Status wait_for_bucket_leader(bus::Connection& bus, const std::string& bucket,
                                            std::chrono::milliseconds timeout) {
  const std::string subject = "$JS.API.STREAM.INFO.KV_" + bucket;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string why;
  for (;;) {
    auto r = bus.request(subject, "", std::chrono::milliseconds(1000));
    if (r.ok()) {
      Json j = Json::parse(r.value().data(), nullptr, false);
      if (!j.is_object()) {
        why = "STREAM.INFO answered something that is not JSON";
      } else if (j.contains("error")) {
        why = j["error"].is_object() ? j["error"].value("description", j["error"].dump()) : j["error"].dump();
      } else if (!j.contains("cluster") || !j["cluster"].is_object() ||
                 !j["cluster"].value("leader", std::string()).empty()) {
        return {};  // a leader (or a single server, which needs none)
      } else {
        why = "its stream has no leader yet";
      }
    } else {
      why = r.error().message;
    }
    if (std::chrono::steady_clock::now() >= deadline)
      return make_error(Errc::unavailable, "bucket " + bucket + " is not ready: " + why);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

Status ReplicatedCatalog::start() {
  auto kv = bus::KeyValue::open(*bus_, options_);
  if (!kv.ok()) return Error(kv.error());
  kv_ = std::move(kv).value();
  // Until the stream has a leader, the snapshot's writes below would be lost.
  if (auto st = wait_for_bucket_leader(*bus_, options_.bucket, std::chrono::seconds(15)); !st.ok()) return st;
  auto watch = kv_->watch(
      ">", [this](const bus::KvEntry& e) { on_entry(e); }, [this] { on_snapshot_done(); });
  if (!watch.ok()) return Error(watch.error());
  watch_ = std::move(watch).value();
  spdlog::info("catalog of record: JetStream bucket {} (replicas {})", options_.bucket, options_.replicas);
  return {};
}

void ReplicatedCatalog::on_entry(const bus::KvEntry& e) {
  MutexLock lock(mu_);
  if (in_snapshot_) {
    snapshot_.push_back(e);
    return;
  }
  if (e.op == bus::KvEntry::Op::put) {
    if (auto c = decode(e)) apply_put(*c, false);
  } else {
    apply_delete(e.key, static_cast<std::int64_t>(e.revision), false);
  }
}

// The end of the snapshot the watch sends first. (After a reconnect it sends a fresh one; by
// then entries are applied as they come, newer revisions only, which converges the same way.)
void ReplicatedCatalog::on_snapshot_done() {
  MutexLock lock(mu_);
  if (!in_snapshot_) return;
  in_snapshot_ = false;
  std::set<std::string> mentioned;
  for (const auto& e : snapshot_) {
    mentioned.insert(e.key);  // delete markers too: a server deleted elsewhere stays deleted
    if (e.op == bus::KvEntry::Op::put) {
      if (auto c = decode(e)) apply_put(*c, true);
    } else {
      apply_delete(e.key, static_cast<std::int64_t>(e.revision), true);
    }
  }
  // The config file's records the bucket holds otherwise (or has deleted) are written as the
  // file has them.
  std::set<std::string> claimed;
  for (const auto& own : claimed_) {
    claimed.insert(own.name);
    if (mentioned.count(own.name) && !holds(own)) settle_claim(own);
  }
  // Records only this node has (added while the cluster was out of reach, or new in its file)
  // join the bucket.
  auto locals = store_.list();
  if (!locals.ok()) spdlog::error("catalog: cannot offer this node's records to the bucket: {}", locals.error().message);
  for (const auto& local : locals.ok() ? locals.value() : std::vector<catalog::ServerConfig>{}) {
    if (mentioned.count(local.name)) continue;
    auto r = kv_->create(local.name, encode(local));
    if (r.ok()) {
      spdlog::info("[{}] added to the cluster catalog from this node's copy (revision {})", local.name, r.value());
    } else if (!is_conflict(r)) {
      spdlog::warn("[{}] could not add to the cluster catalog: {}", local.name, r.error().message);
    } else if (claimed.count(local.name)) {
      settle_claim(local);  // another node wrote it meanwhile: the same, or the file's wins
    }
  }
  claimed_.clear();
  spdlog::info("catalog synchronised with bucket {}: {} records", options_.bucket, snapshot_.size());
  snapshot_.clear();
}

void ReplicatedCatalog::apply_put(const catalog::ServerConfig& config, bool force) {
  auto current = store_.get(config.name);
  if (!current.ok()) {
    spdlog::error("[{}] could not apply revision {}: {}", config.name, config.revision, current.error().message);
    return;
  }
  if (!force && current.value() && current.value()->revision >= config.revision) return;
  auto r = force ? store_.replace(config) : store_.apply_remote_put(config);
  if (!r.ok()) {
    spdlog::error("[{}] could not store revision {}: {}", config.name, config.revision, r.error().message);
    return;
  }
  if (r.value() == catalog::Applied::applied || !current.value()) hooks_.changed(config.name);
}

void ReplicatedCatalog::apply_delete(const std::string& name, std::int64_t revision, bool force) {
  auto current = store_.get(name);
  if (!current.ok()) {
    spdlog::error("[{}] could not apply a delete at revision {}: {}", name, revision, current.error().message);
    return;
  }
  if (!force && current.value() && current.value()->revision > revision) return;
  auto r = force ? store_.replace_delete(name, revision) : store_.apply_remote_delete(name, revision);
  if (!r.ok()) spdlog::error("[{}] could not store a delete at revision {}: {}", name, revision, r.error().message);
  else if (r.value() == catalog::Applied::applied) hooks_.removed(name);
}

Result<catalog::ServerConfig> ReplicatedCatalog::write(const catalog::ServerConfig& config) {
  auto existing = store_.get(config.name);
  if (!existing.ok()) return existing.error();
  catalog::ServerConfig c = config;
  const auto now = catalog::format_timestamp(std::chrono::system_clock::now());
  c.created_at = existing.value() ? existing.value()->created_at : now;
  c.updated_at = now;
  auto r = kv_->put(c.name, encode(c));
  if (!r.ok()) return Error(r.error());
  c.revision = static_cast<std::int64_t>(r.value());
  return c;
}

bool ReplicatedCatalog::holds(const catalog::ServerConfig& config) {
  auto current = store_.get(config.name);
  return current.ok() && current.value() && catalog::same_definition(*current.value(), config);
}

// With mu_ held (the watch thread, at the end of the snapshot): writes a claim unless the
// bucket's record of that name has the same definition.
void ReplicatedCatalog::settle_claim(const catalog::ServerConfig& config) {
  auto current = kv_->get_latest(config.name);  // a replica might not have the write that conflicted yet
  if (current.ok() && current.value())
    if (auto c = decode(*current.value()); c && catalog::same_definition(*c, config)) {
      apply_put(*c, false);
      return;
    }
  auto written = write(config);
  if (!written.ok())
    return spdlog::warn("[{}] could not write to the cluster catalog: {}", config.name, written.error().message);
  apply_put(written.value(), false);
}

void ReplicatedCatalog::claim(const catalog::ServerConfig& config) {
  {
    MutexLock lock(mu_);
    if (in_snapshot_) {
      claimed_.push_back(config);
      return;
    }
  }
  if (holds(config)) return;
  if (auto r = put(config); !r.ok())
    spdlog::warn("[{}] could not write to the cluster catalog: {}", config.name, r.error().message);
}

Result<catalog::ServerConfig> ReplicatedCatalog::put(const catalog::ServerConfig& config) {
  auto c = write(config);
  if (!c.ok()) return c.error();
  MutexLock lock(mu_);
  apply_put(c.value(), false);
  return c;
}

Result<std::optional<std::int64_t>> ReplicatedCatalog::remove(const std::string& name) {
  // The revision this node deletes: what it has, else what the bucket has. The bucket gives
  // no revision for the delete itself, and "whatever is live" would wrongly take down a put
  // that another node made meanwhile; a tombstone at the revision seen only refuses that one
  // (the watch then brings the bucket's own order, the same on every node).
  std::int64_t seen = 0;
  auto local = store_.get(name);
  if (!local.ok()) return local.error();
  if (local.value()) {
    seen = local.value()->revision;
  } else {
    auto remote = kv_->get(name);
    if (!remote.ok()) return Error(remote.error());
    if (!remote.value()) return std::optional<std::int64_t>();
    seen = static_cast<std::int64_t>(remote.value()->revision);
  }
  if (auto erased = kv_->erase(name); !erased.ok()) return Error(erased.error());
  MutexLock lock(mu_);
  auto r = store_.apply_remote_delete(name, seen);
  if (!r.ok()) return r.error();  // the bucket has it deleted; the watch applies it again
  if (r.value() == catalog::Applied::applied) hooks_.removed(name);
  return std::optional<std::int64_t>(seen);
}

void ReplicatedCatalog::stop() { watch_.reset(); }

Result<std::optional<catalog::ServerConfig>> ReplicatedCatalog::fetch(const std::string& name) {
  auto r = kv_->get(name);
  if (!r.ok()) return Error(r.error());
  if (!r.value()) return std::optional<catalog::ServerConfig>();
  auto c = decode(*r.value());
  if (!c) return std::optional<catalog::ServerConfig>();  // undecodable: logged, treated as absent
  MutexLock lock(mu_);
  apply_put(*c, false);
  return c;
}

}  // namespace mcpd::node
