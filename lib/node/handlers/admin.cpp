// <prefix>.admin.servers.{put,delete,get,list}: the admin API mcpctl uses. Runs on the
// blocking pool: every verb touches SQLite, and put/delete may wait on JetStream. put and
// delete pass the [security] policy first (forbidden: remote_registration = false refuses both,
// the gate in manager.cpp; a record the policy would not run is refused by put).
#include "node/internal/handlers.hpp"
#include "node/internal/node.hpp"

#include <algorithm>

namespace mcpd::node {

using Json = nlohmann::json;

namespace {

Reply ok(const Json& body) { return Reply{body.dump(-1, ' ', false, Json::error_handler_t::replace), {}, std::nullopt}; }

Reply put(Node& n, const Request& r) {
  auto parsed = catalog::parse_server_config(r.body);
  if (!parsed.ok()) return error_reply(parsed.error());
  // Refused here, before it is stored or published: the [security] policy of the node that
  // takes the request (each node checks again before it runs a record).
  if (auto st = n.admission.may_run(parsed.value()); !st.ok()) return error_reply(st.error());
  auto stored = n.catalog.put(parsed.value());
  if (!stored.ok()) return error_reply(stored.error());
  return ok(Json{{"server", catalog::to_json(stored.value())}});
}

Reply remove(Node& n, const Request& r) {
  const auto name = r.body["name"].get<std::string>();
  auto removed = n.catalog.remove(name);
  if (!removed.ok()) return error_reply(removed.error());
  if (!removed.value()) return error_reply(n.unknown_server(name));
  return ok(Json{{"deleted", name}});
}

Reply get(Node& n, const Request& r) {
  const auto name = r.body["name"].get<std::string>();
  auto config = n.store.get(name);
  if (!config.ok()) return error_reply(config.error());
  if (!config.value()) return error_reply(n.unknown_server(name));
  return ok(Json{{"server", catalog::to_json(*config.value())}});
}

// A page of the catalog in name order: after `cursor`, at most `limit` servers and never more
// than fits in one NATS message (with next_cursor when more follow), so the list works at any
// count and a v1 caller sending {} still gets everything while it fits.
Reply list(Node& n, const Request& r) {
  auto all = n.store.list();
  if (!all.ok()) return error_reply(all.error());
  const auto& configs = all.value();
  const std::string cursor = r.body.value("cursor", std::string());
  const std::size_t limit = r.body.contains("limit") ? r.body["limit"].get<std::size_t>() : configs.size();
  const std::int64_t max_payload = n.bus->max_payload();
  // Room for the reply's headers and its other members.
  const std::size_t budget = static_cast<std::size_t>(max_payload > 0 ? max_payload : 1 << 20) - 8 * 1024;
  auto it = std::upper_bound(configs.begin(), configs.end(), cursor,
                             [](const std::string& c, const catalog::ServerConfig& s) { return c < s.name; });
  if (cursor.empty()) it = configs.begin();
  Json servers = Json::array();
  std::size_t bytes = 0;
  for (; it != configs.end() && servers.size() < limit; ++it) {
    Json record = catalog::to_json(*it);
    const std::size_t size = record.dump(-1, ' ', false, Json::error_handler_t::replace).size() + 1;
    // The first always goes in: a record too big for a message alone becomes too_large, said.
    if (!servers.empty() && bytes + size > budget) break;
    bytes += size;
    servers.push_back(std::move(record));
  }
  Json out = {{"servers", std::move(servers)}, {"total", configs.size()}};
  if (it != configs.end() && !out["servers"].empty()) out["next_cursor"] = out["servers"].back()["name"];
  return ok(out);
}

}  // namespace

void add_admin(const std::shared_ptr<Node>& node) {
  struct Verb {
    const char* name;
    schema::Payload payload;
    Reply (*serve)(Node&, const Request&);
  };
  const Verb verbs[] = {{"put", schema::Payload::server, put},
                        {"delete", schema::Payload::admin_name_request, remove},
                        {"get", schema::Payload::admin_name_request, get},
                        {"list", schema::Payload::admin_list_request, list}};
  std::weak_ptr<Node> weak = node;
  for (const auto& v : verbs) {
    node->table.add(EndpointSpec{
        .name = "admin",
        .pattern = std::string("admin.servers.") + v.name,
        .stats_subject = "admin.servers.*",
        .payload = v.payload,
        .runs = RunsOn::blocking,
        .via = Via::queue,
        .error_extra = Json::object(),
        .handler =
            [weak, serve = v.serve](Request r) {
              if (auto n = weak.lock()) n->table.answer(r.reply_to, serve(*n, r));
            },
    });
  }
}

}  // namespace mcpd::node
