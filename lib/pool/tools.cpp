// SessionPool tool list: one per server, cached, fetched from any ready session (starting one
// if none is), replaced when a session reports list_changed.
#include "pool/pool_impl.hpp"

#include <asio/post.hpp>

namespace mcpd::pool {

void SessionPool::Impl::set_tools(mcp::Tools t) {
  tools = std::move(t);
  tools_stale = false;
  tool_names.clear();
  auto modes = std::make_shared<std::unordered_map<std::string, mcp::TaskSupport>>();
  for (const auto& tool : *tools) {
    auto name = tool.value("name", std::string());
    tool_names.insert(name);
    modes->emplace(std::move(name), mcp::task_support_of(tool));
  }
  MutexLock lock(lane_mu);
  tool_modes = std::move(modes);
}

void SessionPool::Impl::list_tools_on_strand(std::function<void(Result<mcp::Tools>)> done, bool refresh) {
  if (!refresh && tools && !tools_stale) {
    done(tools);
    return;
  }
  tools_waiters.push_back(std::move(done));
  if (tools_fetching) return;
  fetch_tools(refresh);
}

void SessionPool::Impl::fetch_tools(bool refresh) {
  std::shared_ptr<Member> source;
  for (auto& m : members)
    if (m->state == State::ready) source = m;
  if (!source)
    for (auto& [id, m] : isolated)
      if (m->state == State::ready) source = m;
  if (!source) {
    if (auto e = refusal(); !e.ok()) {
      answer_tools(e.error());
    } else if (st_starting.load() == 0 && live_members() < opts.max_sessions && !restart_scheduled) {
      // on_opened fetches once it is ready; a node with no room for it says so at once.
      if (!add_shared_member()) answer_tools(node_full());
    }
    return;
  }
  tools_fetching = true;
  ++st_tool_fetches;
  std::weak_ptr<Impl> weak = weak_from_this();
  source->session->list_tools(
      [weak](Result<mcp::Tools> r) {
        if (auto self = weak.lock())
          asio::post(self->strand, [self, r = std::move(r)] {
            self->tools_fetching = false;
            if (r.ok()) self->set_tools(r.value());
            self->answer_tools(r);
          });
      },
      refresh);
}

void SessionPool::Impl::answer_tools(const Result<mcp::Tools>& r) {
  for (auto& w : take(tools_waiters)) w(r);
}

}  // namespace mcpd::pool
