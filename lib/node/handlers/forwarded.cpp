// <prefix>.nodes.<this node>.<server>.execute: a call another node forwarded here because this
// node owns its session. Served by this node's own subscription (no queue group) and answered
// straight to the caller's reply subject; counted with execute.
#include "node/internal/handlers.hpp"
#include "node/internal/node.hpp"

namespace mcpd::node {

using Json = nlohmann::json;

void add_forwarded(const std::shared_ptr<Node>& node) {
  std::weak_ptr<Node> weak = node;
  node->table.add(EndpointSpec{
      .name = "execute",
      .pattern = "nodes." + node->opts.node_id + ".*.execute",
      .stats_subject = {},
      .payload = schema::Payload::tool_request,
      .runs = RunsOn::loop,
      .via = Via::node,
      .error_extra = Json::object(),
      .handler =
          [weak](Request r) {
            if (auto n = weak.lock()) execute(n, std::move(r.captures[0]), std::move(r.body), std::move(r.reply_to), true);
          },
  });
}

}  // namespace mcpd::node
