// Manager: the NATS request path — execute, list-tools, calls forwarded to a session's owner,
// validation against proto-schemas/, replies and per-endpoint counters.
#include "node/manager_impl.hpp"

#include "schema/schema.hpp"

#include <asio/post.hpp>
#include <spdlog/spdlog.h>

namespace mcpd::node {

void Manager::Impl::receive(bus::Message msg) {
  if (msg.reply().empty()) return;  // a publish, not a request: nothing to answer
  // Node-to-node subjects also match the queue subscription; their own subscribers answer.
  if (msg.subject().starts_with(nodes_prefix)) return;
  ++in_flight;
  ++requests;
  // Small tool calls are handled right here (parsing is a few µs and the call itself is
  // handed to the pool): one thread hop less. Admin requests touch SQLite and big bodies take
  // a while to parse: those go to the event loop, so this delivery thread stays free.
  constexpr std::size_t kInlineBytes = 64 * 1024;
  const std::string_view subject = msg.subject();
  if (msg.data().size() <= kInlineBytes && (subject.ends_with(".execute") || subject.ends_with(".list-tools"))) {
    handle(msg);
    return;
  }
  auto m = std::make_shared<bus::Message>(std::move(msg));
  asio::post(loop.context(), [self = shared_from_this(), m] { self->handle(*m); });
}

void Manager::Impl::answer(const Ctx& reply_to, const Reply& reply) {
  constexpr std::size_t kHeaderRoom = 4096;
  const auto limit = bus->max_payload();
  if (limit > 0 && reply.body.size() + kHeaderRoom > static_cast<std::size_t>(limit)) {
    auto too_large = error_reply(make_error(
        Errc::too_large, "the reply is " + std::to_string(reply.body.size()) + " bytes, more than NATS accepts (max_payload " +
                             std::to_string(limit) + "); ask the tool for less, or raise max_payload on the NATS servers"));
    ++errors;
    count(reply_to, &too_large);
    bus->respond(reply_to.subject, too_large.body, too_large.headers);
    --in_flight;
    return;
  }
  // Counted before the reply leaves: a caller that asks $SRV.STATS once answered sees its call.
  if (!reply.headers.empty()) ++errors;
  count(reply_to, reply.headers.empty() ? nullptr : &reply);
  if (!bus->respond(reply_to.subject, reply.body, reply.headers))
    spdlog::warn("could not publish a reply to {} ({} bytes)", reply_to.subject, reply.body.size());
  --in_flight;
}

void Manager::Impl::handle_forwarded(bus::Message msg) {
  if (msg.reply().empty()) return;
  ++in_flight;
  ++requests;
  const std::string head = nodes_prefix + opts.node_id + ".";
  std::string_view rest = msg.subject();
  rest.remove_prefix(std::min(rest.size(), head.size()));
  Route route;
  if (rest.ends_with(".execute")) {
    route.kind = RouteKind::execute;
    route.server = std::string(rest.substr(0, rest.size() - 8));
  }
  auto m = std::make_shared<bus::Message>(std::move(msg));
  asio::post(loop.context(), [self = shared_from_this(), m, route] { self->handle(*m, route, true); });
}

void Manager::Impl::handle(const bus::Message& msg, Route route, bool forwarded) {
  const Ctx reply_to{std::string(msg.reply()), endpoint_of(route.kind), Clock::now()};
  if (route.kind == RouteKind::event) {  // events are published, never requested
    answer(reply_to, error_reply(make_error(Errc::invalid_request,
                                            std::string(msg.subject()) + " is an event subject: publish to it without " +
                                                "expecting a reply (to register a server, request " +
                                                opts.subjects.admin("put") + ")")));
    return;
  }
  if (route.kind == RouteKind::invalid) {
    answer(reply_to, error_reply(make_error(Errc::invalid_request, route.problem)));
    return;
  }
  if (msg.data().size() > opts.max_request_bytes) {
    answer(reply_to, error_reply(make_error(Errc::too_large, "request body is " + std::to_string(msg.data().size()) +
                                                                 " bytes; this node accepts at most " +
                                                                 std::to_string(opts.max_request_bytes))));
    return;
  }
  Json body;
  if (auto err = parse_body(msg.data(), route.kind, body)) {
    Json extra = route.kind == RouteKind::list_tools ? Json{{"tools", Json::array()}} : Json::object();
    answer(reply_to, error_reply(*err, extra));
    return;
  }
  switch (route.kind) {
    case RouteKind::execute: return execute(route.server, std::move(body), reply_to, forwarded);
    case RouteKind::list_tools: return list_tools(route.server, reply_to);
    case RouteKind::admin_put: return answer(reply_to, admin_put(body));
    case RouteKind::admin_delete: return answer(reply_to, admin_delete(body));
    case RouteKind::admin_get: return answer(reply_to, admin_get(body));
    case RouteKind::admin_list: return answer(reply_to, admin_list());
    default:
      answer(reply_to, error_reply(make_error(Errc::invalid_request, forwarded ? "not a forwarded call" : "unhandled route")));
  }
}

std::optional<Error> Manager::Impl::parse_body(std::string_view data, RouteKind kind, Json& out) {
  if (data.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    out = Json::object();
  } else {
    try {
      out = Json::parse(data);
    } catch (const Json::parse_error& e) {
      return make_error(Errc::invalid_request, std::string("request body is not valid JSON: ") + e.what());
    }
  }
  schema::Payload payload;
  switch (kind) {
    case RouteKind::execute: payload = schema::Payload::tool_request; break;
    case RouteKind::list_tools: payload = schema::Payload::tool_list_request; break;
    case RouteKind::admin_put: payload = schema::Payload::server; break;
    case RouteKind::admin_delete:
    case RouteKind::admin_get: payload = schema::Payload::admin_name_request; break;
    default: payload = schema::Payload::admin_list_request; break;
  }
  if (auto err = schema::validate(payload, out)) {
    Error e = *err;
    e.message = "invalid " + std::string(schema::name(payload)) + ": " + e.message;
    return e;
  }
  return std::nullopt;
}

Error Manager::Impl::unknown_server(const std::string& name) const {
  std::string why;
  if (!catalog::valid_server_name(name, &why)) return make_error(Errc::invalid_request, why);
  return make_error(Errc::invalid_request, "no MCP server named '" + name + "' is registered on this cluster" +
                                               " (list them with: mcpctl server ls)");
}

void Manager::Impl::execute(const std::string& server, Json body, const Ctx& reply_to, bool forwarded,
                            std::optional<Affinity::Decision> settled, bool fetched) {
  std::optional<std::string> request_id;
  if (auto it = body.find("request_id"); it != body.end() && it->is_string()) request_id = it->get<std::string>();
  Json extra = Json::object();
  if (request_id) extra["request_id"] = *request_id;
  auto p = find(server);
  if (!p) {
    if (cluster && cluster->catalog() && !fetched) {
      // Perhaps created on another node a moment ago: ask the catalog of record (blocking,
      // so off this thread) before saying it does not exist.
      cluster->post([self = shared_from_this(), server, body = std::move(body), reply_to, forwarded, settled]() mutable {
        self->cluster->catalog()->fetch(server);
        self->execute(server, std::move(body), reply_to, forwarded, settled, true);
      });
      return;
    }
    answer(reply_to, error_reply(unknown_server(server), extra));
    return;
  }
  const bool affine = body.contains("session_id") && p->options().isolate_by_session_id;
  if (affine && !settled && cluster && cluster->affinity()) {
    // Which node owns this session: key-value round trips, so off this thread. A forwarded
    // call asks too: that renews this node's ownership, and a node restarted under the same
    // id learns that the session's state is gone (local_reset: the reply says session_reset).
    cluster->post([self = shared_from_this(), server, body = std::move(body), reply_to, extra, forwarded]() mutable {
      auto route = self->cluster->affinity()->resolve(server, body["session_id"].get<std::string>());
      if (!route.ok()) {
        self->answer(reply_to, error_reply(route.error(), extra));
      } else if (route->decision == Affinity::Decision::forward && !forwarded) {
        self->forward(route->owner, server, body, reply_to);
      } else {  // a forwarded call is never forwarded again (no ping-pong while ownership moves)
        const auto decision =
            route->decision == Affinity::Decision::forward ? Affinity::Decision::local : route->decision;
        self->execute(server, std::move(body), reply_to, forwarded, decision);
      }
    });
    return;
  }
  pool::CallRequest req;
  req.session_reset = settled == Affinity::Decision::local_reset;
  req.tool = body["tool"].get<std::string>();
  if (auto a = body.find("args"); a != body.end() && a->is_object()) req.arguments = std::move(*a);
  if (auto s = body.find("session_id"); s != body.end() && s->is_string()) req.session_id = s->get<std::string>();
  if (auto t = body.find("timeout_ms"); t != body.end() && t->is_number_integer())
    req.timeout = std::chrono::milliseconds(t->get<std::int64_t>());
  const ReplyFormat format = body.value("format", std::string("compat")) == "mcp" ? ReplyFormat::mcp : ReplyFormat::compat;
  p->call(std::move(req), [self = shared_from_this(), reply_to, format, request_id, extra](Result<pool::CallResult> r) {
    if (r.ok()) {
      self->answer(reply_to, tool_reply(r.value().result, format, r.value().session_reset, request_id));
    } else {
      self->answer(reply_to, error_reply(r.error(), extra));
    }
  });
}

void Manager::Impl::forward(const std::string& owner, const std::string& server, const Json& body, const Ctx& reply_to) {
  if (auto err = bus->publish(opts.subjects.node_execute(owner, server), body.dump(), {}, reply_to.subject)) {
    answer(reply_to, error_reply(make_error(Errc::unavailable, "cannot forward to node " + owner + ", which owns the session: " +
                                                                 err->message)));
    return;
  }
  count(reply_to, nullptr);
  --in_flight;
}

void Manager::Impl::list_tools(const std::string& server, const Ctx& reply_to) {
  auto p = find(server);
  if (!p) {
    answer(reply_to, error_reply(unknown_server(server), Json{{"tools", Json::array()}}));
    return;
  }
  p->list_tools([self = shared_from_this(), reply_to](Result<mcp::Tools> r) {
    if (!r.ok()) {
      self->answer(reply_to, error_reply(r.error(), Json{{"tools", Json::array()}}));
      return;
    }
    Json tools = Json::array();
    for (const auto& t : *r.value()) tools.push_back(t);
    self->answer(reply_to, Reply{Json{{"tools", std::move(tools)}}.dump(-1, ' ', false, Json::error_handler_t::replace), {}});
  });
}

}  // namespace mcpd::node
