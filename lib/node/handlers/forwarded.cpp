// <prefix>.nodes.<this node>.<server>.execute: a call another node forwarded here because this
// node owns its session. Served by this node's own subscription (no queue group); counted with
// execute. With the Mcpd-Reply-To header (subjects.hpp) the call is acknowledged at once to the
// request's reply subject, so the forwarding node knows it is in hand, and answered to the
// caller's subject the header names; without it, answered to the request's reply subject.
#include "node/internal/handlers.hpp"
#include "node/internal/node.hpp"

#include "common/text.hpp"

#include <spdlog/spdlog.h>

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
            auto n = weak.lock();
            if (!n) return;
            if (auto caller = r.inbound.header(kReplyToHeader)) {
              // Published to as it is: only a plain subject, never a wildcard or a header-breaking string.
              if (!bus::is_publish_subject(*caller)) {
                Json extra = r.reply_to.error_extra;
                if (auto id = r.body.find("request_id"); id != r.body.end() && id->is_string()) extra["request_id"] = *id;
                return n->table.answer(
                    r.reply_to,
                    error_reply(make_error(Errc::invalid_request,
                                           "header " + std::string(kReplyToHeader) + " " + quote(*caller) +
                                               " is not a subject to answer to (dot-separated tokens of printable "
                                               "ASCII, no spaces or wildcards, at most " +
                                               std::to_string(bus::kMaxPublishSubjectBytes) + " bytes)"),
                                extra));
              }
              // In hand: the forwarding node stops waiting; from here on the caller hears from us.
              if (auto st = n->bus->respond(r.reply_to.subject, R"({"accepted":true})",
                                            {{std::string(kAcceptedHeader), "true"}});
                  !st.ok()) {
                // Not run: the forwarding node, not told, answers the caller itself.
                spdlog::warn("a forwarded call was not acknowledged ({}), so not run", st.error().message);
                return n->table.handed_off(r.reply_to);
              }
              r.reply_to.subject = std::move(*caller);
            }
            execute(n, std::move(r.captures[0]), std::move(r.body), std::move(r.reply_to), TraceContext::of(r.inbound), true);
          },
  });
}

}  // namespace mcpd::node
