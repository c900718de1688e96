// Manager: the admin API (mcp.admin.servers.*) and the catalog events (mcp.servers.created /
// deleted), applied by revision so a late event never undoes a newer change.
#include "node/manager_impl.hpp"

#include <asio/post.hpp>
#include <spdlog/spdlog.h>

namespace mcpd::node {

void Manager::Impl::publish_event(const std::string& subject, const Json& event) {
  if (auto err = bus->publish(subject, event.dump()))
    spdlog::warn("could not publish {} ({}); other nodes learn of this change when they next sync", subject,
                 err->message);
}

Reply Manager::Impl::admin_put(const Json& body) {
  auto parsed = catalog::parse_server_config(body);
  if (!parsed.ok()) return error_reply(parsed.error());
  auto* replicated = cluster ? cluster->catalog() : nullptr;
  auto stored = replicated ? replicated->put(parsed.value()) : store.put(parsed.value());
  if (!stored.ok()) return error_reply(stored.error());
  start_worker(stored.value());
  Json record = catalog::to_json(stored.value());
  publish_event(opts.subjects.servers_created(), record);
  spdlog::info("[{}] registered (revision {})", stored->name, stored->revision);
  return ok(Json{{"server", std::move(record)}});
}

Reply Manager::Impl::admin_delete(const Json& body) {
  const std::string name = body["name"].get<std::string>();
  auto* replicated = cluster ? cluster->catalog() : nullptr;
  auto removed = replicated ? replicated->remove(name) : store.remove(name);
  if (!removed.ok()) return error_reply(removed.error());
  if (!removed.value()) return error_reply(unknown_server(name));
  stop_worker(name, {});
  // With its revision, the event is news of a change, never a command to delete anew: a node
  // that already holds a newer definition keeps it.
  publish_event(opts.subjects.servers_deleted(), Json{{"name", name}, {"revision", *removed.value()}});
  spdlog::info("[{}] deleted{} (revision {})", name, replicated ? " from the cluster catalog" : "", *removed.value());
  return ok(Json{{"deleted", name}});
}

Reply Manager::Impl::admin_get(const Json& body) {
  const std::string name = body["name"].get<std::string>();
  auto config = store.get(name);
  if (!config) return error_reply(unknown_server(name));
  return ok(Json{{"server", catalog::to_json(*config)}});
}

Reply Manager::Impl::admin_list() {
  Json list = Json::array();
  for (const auto& c : store.list()) list.push_back(catalog::to_json(c));
  return ok(Json{{"servers", std::move(list)}});
}

void Manager::Impl::on_event(bus::Message msg) {
  auto m = std::make_shared<bus::Message>(std::move(msg));
  asio::post(loop.context(), [self = shared_from_this(), m] { self->apply_event(*m); });
}

void Manager::Impl::apply_event(const bus::Message& msg) {
  const std::string subject(msg.subject());
  if (!msg.reply().empty()) return;  // a request to an event subject is refused, not applied
  Json body = Json::parse(msg.data(), nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    spdlog::warn("ignored an event on {} that is not a JSON object", subject);
    return;
  }
  if (subject == opts.subjects.servers_created()) {
    auto parsed = catalog::parse_server_config(body);
    if (!parsed.ok()) {
      spdlog::warn("ignored a created event that is not a valid server: {}", parsed.error().message);
      return;
    }
    // An event without a revision comes from an older publisher: take it as a new change
    // (in a JetStream cluster, by writing it to the catalog of record).
    if (!body.contains("revision") && cluster && cluster->catalog()) {
      cluster->post([self = shared_from_this(), config = parsed.value()] {
        if (auto* c = self->cluster->catalog()) {
          auto current = self->store.get(config.name);
          if (!current || !catalog::same_definition(*current, config)) c->put(config);
        }
      });
      return;
    }
    Result<catalog::Applied> applied = body.contains("revision")
                                           ? store.apply_remote_put(parsed.value())
                                           : Result<catalog::Applied>(store.put(parsed.value()).ok()
                                                                          ? catalog::Applied::applied
                                                                          : catalog::Applied::stale);
    if (!applied.ok()) {
      spdlog::error("[{}] could not store a created event: {}", parsed->name, applied.error().message);
      return;
    }
    if (applied.value() == catalog::Applied::applied) {
      auto current = store.get(parsed->name);
      if (current) start_worker(*current);
    } else {
      spdlog::debug("[{}] created event (revision {}) is {}", parsed->name, parsed->revision,
                    catalog::to_string(applied.value()));
    }
  } else if (subject == opts.subjects.servers_deleted()) {
    auto name = body.find("name");
    if (name == body.end() || !name->is_string()) {
      spdlog::warn("ignored a deleted event without a name");
      return;
    }
    std::optional<std::int64_t> revision;
    if (auto r = body.find("revision"); r != body.end() && r->is_number_integer()) revision = r->get<std::int64_t>();
    if (!revision && cluster && cluster->catalog()) {
      cluster->post([self = shared_from_this(), n = name->get<std::string>()] {
        if (auto* c = self->cluster->catalog()) c->remove(n);
      });
      return;
    }
    auto applied = store.apply_remote_delete(name->get<std::string>(), revision);
    if (applied.ok() && applied.value() == catalog::Applied::applied) {
      stop_worker(name->get<std::string>(), {});
    }
  }
}

}  // namespace mcpd::node
