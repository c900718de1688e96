#include "node/internal/node.hpp"

#include "common/log_fields.hpp"

#include <spdlog/spdlog.h>

namespace mcpd::node {

Node::Node(ManagerOptions options, io::Loop& l, catalog::Store& s, std::shared_ptr<bus::Connection> b)
    : opts(std::move(options)),
      loop(l),
      store(s),
      bus(std::move(b)),
      blocking("mcpd-blocking", opts.blocking_threads),
      admission(opts.security, opts.own_servers),
      registry(loop, store, admission, opts.pool_defaults,
               [this](const std::string& server, const std::string& session_id) {
                 // A pool strand: releasing the ownership is a key-value round trip.
                 if (!affinity()) return;
                 auto self = weak_from_this().lock();
                 if (!self) return;
                 if (auto st = blocking.post([self, server, session_id] {
                       if (auto* a = self->affinity()) a->release(server, session_id);
                     });
                     !st.ok())
                   spdlog::debug("[{}] session {} not released now ({}); its key expires", server, session_id,
                                 st.error().message);
               }),
      catalog(opts.subjects, store, bus, registry, admission, [this] { return replicated(); }),
      table(TableOptions{opts.subjects.prefix, opts.queue_group, opts.max_request_bytes, 64 * 1024,
                         [this] { return bus->max_payload(); },  // larger replies become too_large
                         opts.json_max_depth,
                         [this](const ReplyTo& to, const Reply& reply) { call_answered(to, reply); }},
            loop, blocking, [this](const std::string& reply_subject, const Reply& reply) {
              if (auto st = bus->respond(reply_subject, reply.body, reply.headers); !st.ok())
                spdlog::warn("could not publish a reply to {} ({} bytes): {}", reply_subject, reply.body.size(),
                             st.error().message);
            }),
      tasks(std::make_unique<TaskService>(opts.tasks, loop, blocking, bus, opts.subjects, opts.node_id, table)) {}

void Node::call_answered(const ReplyTo& to, const Reply& reply) {
  const auto took = std::chrono::steady_clock::now() - to.start;
  const std::string_view code = reply.error ? to_string(reply.error->code) : std::string_view("ok");
  // A tool the server does not have is a name a caller made up: not a series of its own.
  const bool unknown = reply.error && reply.error->code == Errc::unknown_tool;
  calls.record(to.server, unknown ? metrics::CallMetrics::kOther : std::string_view(to.tool), code, took);
  if (!spdlog::should_log(spdlog::level::debug)) return;
  std::string request_id;
  if (auto it = to.error_extra.find("request_id"); it != to.error_extra.end() && it->is_string())
    request_id = it->get<std::string>();
  LogFields fields;
  fields.server = to.server;
  fields.tool = to.tool;
  fields.request_id = request_id;
  fields.session = to.session;
  fields.code = code;
  fields.trace_id = to.trace_id;
  fields.duration_ms = std::chrono::duration<double, std::milli>(took).count();
  LogScope scope(fields);
  if (reply.error) spdlog::debug("[{}] call of {} failed ({}): {}", to.server, to.tool, code, reply.error->message);
  else spdlog::debug("[{}] call of {} answered", to.server, to.tool);
}

nlohmann::json Node::stats_data() const {
  const Node& n = *this;
  using Json = nlohmann::json;
  const auto l = n.registry.limits().stats();
  const auto& o = n.registry.limits().options();
  return Json{{"node", n.opts.node_id},
              {"in_flight", n.table.in_flight()},
              {"server_count", n.registry.size()},  // all of them, when "servers" is cut to fit
              {"sessions",
               {{"live", l.sessions},
                {"max", o.max_sessions},
                {"processes", l.processes},
                {"max_processes", o.max_live_processes},
                {"starting", l.starting},
                {"waiting_to_start", l.waiting_to_start},
                {"max_concurrent_starts", o.max_concurrent_starts},
                {"evictions", l.evictions},
                {"refusals", l.refusals}}},
              {"tasks", n.tasks->stats()},
              {"servers", n.registry.status()}};
}

Error Node::unknown_server(const std::string& name) const {
  if (auto st = catalog::check_server_name(name); !st.ok()) return st.error();
  if (auto why = registry.refusal(name)) {
    Error e = *why;
    e.message = "not run on this node: " + e.message;
    return e;
  }
  return make_error(Errc::invalid_request,
                    "no MCP server named '" + name + "' is registered on this cluster (list them with: mcpctl server ls)");
}

}  // namespace mcpd::node
