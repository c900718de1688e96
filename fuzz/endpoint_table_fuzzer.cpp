// Fuzz target: one NATS request end to end through node::EndpointTable without NATS — routing
// by subject, the size and depth bounds, JSON parsing, validation against the real
// proto-schemas payload schemas, the policy gate and the reply — with the node's subjects
// registered and trivial handlers. Input: "<subject>\n<body>" (no newline: all subject, empty
// body); it is dispatched on the queue subscription and on the node's own one.
// Properties: nothing crashes; every request is answered once, at once (every endpoint runs
// inline), unless its subject is one to ignore; every reply is JSON; a handler only sees a
// body within the depth bound.
#include "fuzz_support.hpp"
#include "node/endpoint_table.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

using namespace mcpd;
using namespace mcpd::node;
using fuzz::check;
using Json = nlohmann::json;

namespace {

constexpr std::size_t kMaxDepth = 32;

struct Table {
  io::Loop loop{1};  // idle: every endpoint runs inline, on the dispatching thread
  io::BlockingPool blocking{"fuzz", 1};
  std::size_t replies = 0;
  EndpointTable table{TableOptions{"mcp", "mcpd", 16 * 1024, SIZE_MAX, [] { return std::int64_t{8192}; }, kMaxDepth},
                      loop, blocking, [this](const std::string&, const Reply& reply) {
                        ++replies;
                        check(!Json::parse(reply.body, nullptr, false).is_discarded(), "a reply is JSON");
                      }};

  Table() {
    add("execute", "*.execute", schema::Payload::tool_request, Via::queue);
    add("list-tools", "*.list-tools", schema::Payload::tool_list_request, Via::queue);
    add("admin", "admin.servers.put", schema::Payload::server, Via::queue);
    add("admin", "admin.servers.get", schema::Payload::admin_name_request, Via::queue);
    add("admin", "admin.servers.delete", schema::Payload::admin_name_request, Via::queue);
    add("admin", "admin.servers.list", schema::Payload::admin_list_request, Via::queue);
    add("resources", "*.resources.list", schema::Payload::page_request, Via::queue);
    add("resources", "*.resources.templates", schema::Payload::page_request, Via::queue);
    add("resources", "*.resources.read", schema::Payload::resource_read_request, Via::queue);
    add("prompts", "*.prompts.list", schema::Payload::page_request, Via::queue);
    add("prompts", "*.prompts.get", schema::Payload::prompt_get_request, Via::queue);
    add("complete", "*.complete", schema::Payload::complete_request, Via::queue);
    add("tasks", "tasks.get", schema::Payload::task_id_request, Via::queue);
    add("tasks", "tasks.cancel", schema::Payload::task_id_request, Via::queue);
    add("tasks", "tasks.result", schema::Payload::task_result_request, Via::queue);
    add("tasks", "tasks.list", schema::Payload::task_list_request, Via::queue);
    add("tasks", "tasks.input", schema::Payload::task_input_request, Via::queue);
    add("oauth", "nodes.fuzz.oauth.grant", schema::Payload::oauth_grant_request, Via::node);
    add("forwarded", "nodes.fuzz.*.execute", schema::Payload::tool_request, Via::node);
    add("forwarded", "nodes.fuzz.*.list-tools", schema::Payload::tool_list_request, Via::node);
    table.refuse("servers.*", "mcp.servers.* are events: publish them, do not request them");
    table.ignore("nodes.>");
    // The policy stage: refuses a request naming the tool "forbidden".
    table.set_gate([](const EndpointSpec&, const Request& r) -> Status {
      if (r.body.is_object() && r.body.value("tool", Json()) == "forbidden")
        return make_error(Errc::invalid_request, "forbidden");
      return {};
    });
  }

  void add(std::string name, std::string pattern, schema::Payload payload, Via via) {
    EndpointSpec s;
    s.name = std::move(name);
    s.pattern = std::move(pattern);
    s.payload = payload;
    s.runs = RunsOn::delivery;
    s.via = via;
    s.handler = [this](Request r) {
      check(json::depth_of(r.body) <= kMaxDepth, "a handler sees a body within the depth bound");
      Json out = {{"captures", r.captures}, {"body", std::move(r.body)}};
      table.answer(r.reply_to, Reply{out.dump(-1, ' ', false, Json::error_handler_t::replace), {}, std::nullopt});
    };
    table.add(std::move(s));
  }
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::quiet_logs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Table* t = new Table;  // one table for the run, as on a node; never destroyed
  std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto nl = input.find('\n');
  const std::string subject(input.substr(0, nl));
  const std::string body(nl == std::string_view::npos ? std::string_view() : input.substr(nl + 1));

  for (Via via : {Via::queue, Via::node}) {
    const std::size_t before = t->replies;
    t->table.dispatch(Inbound::copy(subject, "_INBOX.fuzz", body), via);
    check(t->replies - before <= 1, "a request is answered at most once");
    check(t->table.in_flight() == 0, "a request is answered at once, or ignored");
  }
  return 0;
}
