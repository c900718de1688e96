#include "node/catalog_sync.hpp"

#include "common/json_limits.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

namespace mcpd::node {

using Json = nlohmann::json;
using Action = EventDecision::Action;

EventDecision decide_event(const Subjects& subjects, std::string_view subject, std::string_view data, bool has_reply,
                           bool jetstream) {
  EventDecision d;
  auto ignore = [&](std::string reason) {
    d.action = Action::ignore;
    d.reason = std::move(reason);
    return d;
  };
  if (has_reply) return ignore("a request to an event subject is refused, not applied");
  const bool created = subject == subjects.servers_created();
  if (!created && subject != subjects.servers_deleted()) return ignore("not a catalog event subject");
  auto parsed = json::parse(data, json::kDefaultMaxDepth);
  Json body = parsed.ok() ? std::move(parsed).value() : Json();
  if (!body.is_object()) return ignore("an event on " + std::string(subject) + " that is not a JSON object");
  std::optional<std::int64_t> revision;
  if (auto r = body.find("revision"); r != body.end()) {
    if (!r->is_number_integer() || (r->is_number_unsigned() && r->get<std::uint64_t>() > std::uint64_t(kMaxEventRevision)) ||
        r->get<std::int64_t>() < 0 || r->get<std::int64_t>() > kMaxEventRevision)
      return ignore("an event on " + std::string(subject) + " whose revision " + r->dump() + " is not an integer in 0.." +
                    std::to_string(kMaxEventRevision));
    revision = r->get<std::int64_t>();
  }
  if (jetstream) {
    // The bucket is the catalog: the event only says which record to read again.
    auto name = body.find("name");
    if (name == body.end() || !name->is_string()) return ignore("an event on " + std::string(subject) + " without a name");
    if (auto st = catalog::check_server_name(name->get<std::string>()); !st.ok()) return ignore(st.error().message);
    d.name = name->get<std::string>();
    d.action = Action::refresh;
    return d;
  }
  if (created) {
    auto parsed = catalog::parse_server_config(body);
    if (!parsed.ok()) return ignore("a created event that is not a valid server: " + parsed.error().message);
    d.name = parsed->name;
    d.config = std::move(parsed).value();
    // An event without a revision comes from an older publisher: take it as a new change.
    d.action = revision ? Action::apply_put : Action::local_put;
    d.revision = d.config->revision;
    return d;
  }
  auto name = body.find("name");
  if (name == body.end() || !name->is_string()) return ignore("a deleted event without a name");
  d.name = name->get<std::string>();
  d.revision = revision;
  // With its revision, the event is news of a change, never a command to delete anew: a node
  // that holds a newer definition keeps it.
  d.action = Action::apply_delete;
  return d;
}

CatalogSync::CatalogSync(Subjects subjects, catalog::Store& store, std::shared_ptr<bus::Connection> bus,
                         PoolRegistry& registry, const Admission& admission,
                         std::function<ReplicatedCatalog*()> replicated)
    : subjects_(std::move(subjects)),
      store_(store),
      bus_(std::move(bus)),
      registry_(registry),
      admission_(admission),
      replicated_(std::move(replicated)) {}

CatalogSync::~CatalogSync() { stop(); }

Status CatalogSync::start() {
  auto sub = bus_->subscribe(subjects_.servers_events(), [this](bus::Message m) {
    // NATS delivery thread: decide here (parsing only), apply on the applier thread, in order.
    auto d = decide_event(subjects_, m.subject(), m.data(), !m.reply().empty(), replicated_() != nullptr);
    if (d.action == Action::ignore) {
      if (m.reply().empty()) spdlog::warn("ignored {}", d.reason);
      return;
    }
    if (auto st = applier_.post([this, d = std::move(d)] { apply(d); }); !st.ok())
      spdlog::warn("[{}] a catalog event was not applied ({}); the node converges at its next sync", d.name,
                   st.error().message);
  });
  if (!sub.ok()) return sub.error();
  events_ = std::move(sub).value();
  return {};
}

void CatalogSync::stop() {
  events_.reset();
  applier_.stop();
}

void CatalogSync::apply(const EventDecision& d) {
  auto follow = [&](const std::string& why) {
    if (auto st = registry_.sync(d.name); !st.ok()) spdlog::error("[{}] {}: {}", d.name, why, st.error().message);
  };
  // Events are the bus changing the catalog: the policy decides first.
  auto refused = [&](const char* what) {
    Status st = admission_.may_change(what);
    if (st.ok() && d.config) st = admission_.may_run(*d.config);
    if (st.ok()) return false;
    spdlog::warn("[{}] {} not applied: {}", d.name, what, st.error().message);
    return true;
  };
  switch (d.action) {
    case Action::ignore: return;
    case Action::refresh:
      fetch(d.name);  // applied through the catalog of record's own path, if the bucket has it
      return;
    case Action::local_put: {
      if (refused("a created event")) return;
      auto r = store_.put(*d.config);
      if (!r.ok()) spdlog::error("[{}] could not store a created event: {}", d.name, r.error().message);
      else follow("created event");
      return;
    }
    case Action::apply_put: {
      if (refused("a created event")) return;
      auto r = store_.apply_remote_put(*d.config);
      if (!r.ok()) spdlog::error("[{}] could not store a created event: {}", d.name, r.error().message);
      else if (r.value() == catalog::Applied::applied) follow("created event");
      else spdlog::debug("[{}] created event (revision {}) is {}", d.name, d.config->revision, catalog::to_string(r.value()));
      return;
    }
    case Action::apply_delete: {
      if (refused("a deleted event")) return;
      auto r = store_.apply_remote_delete(d.name, d.revision);
      if (!r.ok()) spdlog::error("[{}] could not store a delete event: {}", d.name, r.error().message);
      else if (r.value() == catalog::Applied::applied) registry_.stop_if_deleted(d.name);
      return;
    }
  }
}

void CatalogSync::publish(const std::string& subject, const std::string& body) {
  if (auto st = bus_->publish(subject, body); !st.ok())
    spdlog::warn("could not publish {} ({}); other nodes learn of this change when they next sync", subject,
                 st.error().message);
}

Result<catalog::ServerConfig> CatalogSync::put(const catalog::ServerConfig& config) {
  auto* replicated = replicated_();
  auto stored = replicated ? replicated->put(config) : store_.put(config);
  if (!stored.ok()) return stored.error();
  if (auto st = registry_.sync(stored->name); !st.ok()) return st.error();
  publish(subjects_.servers_created(), catalog::to_json(stored.value()).dump());
  spdlog::info("[{}] registered (revision {})", stored->name, stored->revision);
  return stored;
}

Result<std::optional<std::int64_t>> CatalogSync::remove(const std::string& name) {
  auto* replicated = replicated_();
  auto removed = replicated ? replicated->remove(name) : store_.remove(name);
  if (!removed.ok() || !removed.value()) return removed;
  registry_.stop_if_deleted(name);
  // With its revision the event is news of a change, never a command (see decide_event).
  publish(subjects_.servers_deleted(), Json{{"name", name}, {"revision", *removed.value()}}.dump());
  spdlog::info("[{}] deleted{} (revision {})", name, replicated ? " from the cluster catalog" : "", *removed.value());
  return removed;
}

void CatalogSync::announce(const catalog::ServerConfig& config) {
  if (auto* c = replicated_()) return c->claim(config);
  publish(subjects_.servers_created(), catalog::to_json(config).dump());
}

void CatalogSync::fetch(const std::string& name) {
  auto* c = replicated_();
  if (!c) return;
  // Applied through the watch's path: the registry hook runs it if the bucket has it.
  if (auto r = c->fetch(name); !r.ok()) spdlog::debug("[{}] not in the catalog of record: {}", name, r.error().message);
}

}  // namespace mcpd::node
