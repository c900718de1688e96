// <prefix>.<server>.list-tools: the server's tools, from its pool's cache (listed again when
// the server says they changed). Every reply has a "tools" array, an error reply too.
#include "node/internal/handlers.hpp"
#include "node/internal/node.hpp"

namespace mcpd::node {

using Json = nlohmann::json;

void add_list_tools(const std::shared_ptr<Node>& node) {
  std::weak_ptr<Node> weak = node;
  node->table.add(EndpointSpec{
      .name = "list-tools",
      .pattern = "*.list-tools",
      .stats_subject = {},
      .payload = schema::Payload::tool_list_request,
      .runs = RunsOn::delivery,
      .via = Via::queue,
      .error_extra = Json{{"tools", Json::array()}},
      .handler =
          [weak](Request r) {
            auto n = weak.lock();
            if (!n) return;
            const std::string& server = r.captures[0];
            auto p = n->registry.find(server);
            if (!p) return n->table.answer(r.reply_to, error_reply(n->unknown_server(server), r.reply_to.error_extra));
            p->list_tools([n, to = std::move(r.reply_to)](Result<mcp::Tools> tools) {
              if (!tools.ok()) return n->table.answer(to, error_reply(tools.error(), to.error_extra));
              Json list = Json::array();
              for (const auto& t : *tools.value()) list.push_back(t);
              n->table.answer(to, Reply{Json{{"tools", std::move(list)}}.dump(-1, ' ', false, Json::error_handler_t::replace),
                                        {}, std::nullopt});
            });
          },
  });
}

}  // namespace mcpd::node
