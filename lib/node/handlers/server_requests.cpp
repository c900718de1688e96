// A server's resources, prompts and completions (contract 1.1), each one MCP request on one of
// the server's shared sessions, pooled like a tool call (same limits, queue, circuit and
// error codes):
//
//   <prefix>.<server>.resources.list       resources/list            one page (cursor)
//   <prefix>.<server>.resources.templates  resources/templates/list  one page (cursor)
//   <prefix>.<server>.resources.read       resources/read            {uri}
//   <prefix>.<server>.prompts.list         prompts/list              one page (cursor)
//   <prefix>.<server>.prompts.get          prompts/get               {name, arguments}
//   <prefix>.<server>.complete             completion/complete       {ref, argument, context}
//
// The reply is the server's MCP result itself (nextCursor included), with request_id added; a
// list's reply always has its array, an error reply too. A server that does not declare the
// capability is not asked (invalid_request, naming it); a resource the server does not have
// (JSON-RPC -32002) is not_found.
#include "node/internal/handlers.hpp"
#include "node/internal/node.hpp"

#include <array>

namespace mcpd::node {

using Json = nlohmann::json;

namespace {

// MCP's "resource not found" error code (resources/read).
constexpr int kResourceNotFound = -32002;

struct Method {
  std::string_view name;        // the endpoint: its subject is <prefix>.<server>.<name>
  std::string_view mcp_method;  // what the server is sent
  std::string_view capability;  // what the server must declare
  schema::Payload payload;      // the request body's schema
  std::string_view result;      // the member a valid result must have
  bool is_list;                 // `result` is an array; paged with cursor / nextCursor
};

constexpr std::array kMethods{
    Method{"resources.list", "resources/list", "resources", schema::Payload::page_request, "resources", true},
    Method{"resources.templates", "resources/templates/list", "resources", schema::Payload::page_request,
           "resourceTemplates", true},
    Method{"resources.read", "resources/read", "resources", schema::Payload::resource_read_request, "contents", false},
    Method{"prompts.list", "prompts/list", "prompts", schema::Payload::page_request, "prompts", true},
    Method{"prompts.get", "prompts/get", "prompts", schema::Payload::prompt_get_request, "messages", false},
    Method{"complete", "completion/complete", "completions", schema::Payload::complete_request, "completion", false},
};

// The MCP params of `m` from a validated request body (its own fields only: timeout_ms and
// request_id are the node's).
Json params_of(const Method& m, const Json& body) {
  Json params = Json::object();
  if (m.is_list) {
    if (auto c = body.find("cursor"); c != body.end()) params["cursor"] = *c;
  } else if (m.mcp_method == "resources/read") {
    params["uri"] = body["uri"];
  } else if (m.mcp_method == "prompts/get") {
    params["name"] = body["name"];
    if (auto a = body.find("arguments"); a != body.end() && a->is_object()) params["arguments"] = *a;
  } else {  // completion/complete
    params["ref"] = body["ref"];
    params["argument"] = body["argument"];
    if (auto c = body.find("context"); c != body.end()) params["context"] = *c;
  }
  return params;
}

// A server's answer to `m`, checked enough that the reply keeps its promise (a list reply has
// its array): anything else is the server breaking the protocol.
Result<Json> check_result(const Method& m, const std::string& server, Json result) {
  const bool wants_array = m.is_list || m.result == "contents" || m.result == "messages";
  auto it = result.is_object() ? result.find(m.result) : result.end();
  const bool fits = it != result.end() && (wants_array ? it->is_array() : it->is_object());
  if (!fits)
    return make_error(Errc::internal, "server '" + server + "' answered " + std::string(m.mcp_method) + " without a valid '" +
                                          std::string(m.result) + "' (a protocol violation by the server)");
  return result;
}

void run(const std::shared_ptr<Node>& n, const Method& m, std::string server, Json body, ReplyTo to, TraceContext trace,
         bool fetched) {
  auto p = n->registry.find(server);
  if (!p) {
    if (n->replicated() && !fetched) {
      // Perhaps created on another node a moment ago: ask the catalog of record first.
      auto work = std::make_shared<std::tuple<std::string, Json, ReplyTo, TraceContext>>(
          std::move(server), std::move(body), to, std::move(trace));
      auto st = n->blocking.post([n, &m, work] {
        auto& [s, b, t, tr] = *work;
        n->catalog.fetch(s);
        run(n, m, std::move(s), std::move(b), std::move(t), std::move(tr), true);
      });
      if (!st.ok()) n->table.answer(to, error_reply(st.error(), to.error_extra));
      return;
    }
    return n->table.answer(to, error_reply(n->unknown_server(server), to.error_extra));
  }
  if (m.mcp_method == "completion/complete") {
    // The schema knows the ref's type; which member that type needs is checked here.
    const Json& ref = body["ref"];
    const bool prompt = ref["type"] == "ref/prompt";
    const char* needs = prompt ? "name" : "uri";
    if (auto it = ref.find(needs); it == ref.end() || !it->is_string() || it->get_ref<const std::string&>().empty())
      return n->table.answer(to, error_reply(make_error(Errc::invalid_request, std::string("ref.") + needs + ": required for a " +
                                                                                   ref["type"].get<std::string>() + " ref"),
                                             to.error_extra));
  }
  pool::CallRequest req;
  req.method = std::string(m.mcp_method);
  req.capability = std::string(m.capability);
  req.params = params_of(m, body);
  if (auto t = body.find("timeout_ms"); t != body.end() && t->is_number_integer())
    req.timeout = std::chrono::milliseconds(t->get<std::int64_t>());
  if (!trace.traceparent.empty()) {
    req.meta = Json{{"traceparent", trace.traceparent}};
    if (!trace.tracestate.empty()) req.meta["tracestate"] = trace.tracestate;
  }
  p->call(std::move(req), [n, &m, server = std::move(server), to = std::move(to)](Result<pool::CallResult> r) {
    if (!r.ok()) {
      Error e = r.error();
      if (e.rpc_code == kResourceNotFound) e.code = Errc::not_found;
      if (e.rpc_code != 0) e.message = "server '" + server + "': " + e.message;
      return n->table.answer(to, error_reply(e, to.error_extra));
    }
    auto checked = check_result(m, server, std::move(r.value().result));
    if (!checked.ok()) return n->table.answer(to, error_reply(checked.error(), to.error_extra));
    Json reply = std::move(checked).value();
    if (auto id = to.error_extra.find("request_id"); id != to.error_extra.end()) reply["request_id"] = *id;
    n->table.answer(to, Reply{reply.dump(-1, ' ', false, Json::error_handler_t::replace), {}, std::nullopt});
  });
}

}  // namespace

void add_server_requests(const std::shared_ptr<Node>& node) {
  std::weak_ptr<Node> weak = node;
  for (const Method& m : kMethods) {
    Json extra = Json::object();
    if (m.is_list) extra[std::string(m.result)] = Json::array();
    node->table.add(EndpointSpec{
        .name = std::string(m.name),
        .pattern = "*." + std::string(m.name),
        .stats_subject = {},
        .payload = m.payload,
        .runs = RunsOn::delivery,
        .via = Via::queue,
        .error_extra = std::move(extra),
        .handler =
            [weak, &m](Request r) {
              auto n = weak.lock();
              if (!n) return;
              // Like execute: the caller's request_id, or one made here, in every reply.
              auto id = r.body.find("request_id");
              r.reply_to.error_extra["request_id"] =
                  id != r.body.end() && id->is_string() ? id->get<std::string>() : new_request_id();
              run(n, m, std::move(r.captures[0]), std::move(r.body), std::move(r.reply_to), TraceContext::of(r.inbound),
                  false);
            },
    });
  }
}

}  // namespace mcpd::node
