// SessionPool calls: admitting a call (closing, circuit, known tool), sending it to the
// least-loaded shared session with a free slot, else the bounded queue (growing the pool for
// it), else `overloaded`; and running a call on a session.
#include "pool/pool_impl.hpp"

#include <asio/post.hpp>

namespace mcpd::pool {

using namespace std::chrono_literals;

namespace {
// "a, b, c, ..." for an unknown_tool message: the first 20 names.
std::string some_tool_names(const mcp::Tools& tools) {
  std::string names;
  int n = 0;
  for (const auto& t : *tools) {
    if (n++ == 20) {
      names += ", ...";
      break;
    }
    names += (names.empty() ? "" : ", ") + t.value("name", std::string());
  }
  return names;
}
}  // namespace

void SessionPool::Impl::fail_queue(const Error& e) {
  auto taken = take(queue);
  refresh_stats();
  for (auto& p : taken) p.done(e);
}

void SessionPool::Impl::submit(Pending p) {
  ++st_calls;
  if (auto e = refusal(); !e.ok()) {
    p.done(e.error());
    return;
  }
  if (!p.req.method.empty()) {  // not a tool call: no tool list to consult
    route(std::move(p));
    return;
  }
  check_tool(std::move(p));
}

// unknown_tool is decided from the tool list: SDK servers answer an unknown tool with an
// isError result, not an error, so asking the server is not enough.
void SessionPool::Impl::check_tool(Pending p) {
  if (tools && tool_names.count(p.req.tool)) {
    route(std::move(p));
    return;
  }
  const bool had_list = tools != nullptr;
  // A fresh list was asked again for a miss a moment ago: the answer stands until the interval
  // passes (or the server announces a change, which marks the list stale).
  const auto now = Clock::now();
  if (had_list && !tools_stale && last_miss_refresh && now - *last_miss_refresh < opts.tool_refresh_interval) {
    refuse_unknown_tool(p, tools);
    return;
  }
  if (had_list) last_miss_refresh = now;
  auto self = shared_from_this();
  auto shared_p = std::make_shared<Pending>(std::move(p));
  list_tools_on_strand(
      [self, shared_p](Result<mcp::Tools> r) {
        asio::post(self->strand, [self, shared_p, r = std::move(r)]() mutable {
          if (!r.ok()) {
            shared_p->done(r.error());
            return;
          }
          if (!self->tool_names.count(shared_p->req.tool)) {
            self->refuse_unknown_tool(*shared_p, r.value());
            return;
          }
          if (self->closing) {
            shared_p->done(self->shutting_down());
            return;
          }
          self->route(std::move(*shared_p));
        });
      },
      had_list);
}

void SessionPool::Impl::refuse_unknown_tool(const Pending& p, const mcp::Tools& list) {
  auto names = some_tool_names(list);
  p.done(make_error(Errc::unknown_tool, server() + " has no tool '" + p.req.tool + "' (its tools: " +
                                            (names.empty() ? "none" : names) + ")"));
}

void SessionPool::Impl::route(Pending p) {
  if (p.req.session_id && opts.isolate_by_session_id) {
    route_isolated(std::move(p));
  } else {
    dispatch(std::move(p));
  }
}

Error SessionPool::Impl::queue_full() const {
  return make_error(Errc::overloaded, server() + " is overloaded: " + std::to_string(live_members()) + " shared and " +
                                          std::to_string(isolated.size()) + " isolated sessions with " +
                                          std::to_string(opts.max_inflight_per_session) + " calls in flight each and " +
                                          std::to_string(queued()) + " calls waiting (maxQueue); retry later");
}

void SessionPool::Impl::dispatch(Pending p) {
  if (auto m = claim_least_loaded()) {
    run_on(m, std::move(p));
    return;
  }
  if (queued() >= opts.max_queue) {
    p.done(queue_full());
    return;
  }
  queue.push_back(std::move(p));
  grow();
  if (live_members() == 0 && !restart_scheduled && backoff.state() == CircuitState::closed) {
    // No session, and the node has no seat to start one: nothing would ever take the call.
    Pending refused = std::move(queue.back());
    queue.pop_back();
    refresh_stats();
    refused.done(node_full());
    return;
  }
  refresh_stats();
  ensure_sweep();
}

// Starts sessions for the queued calls that the sessions already starting cannot take,
// up to max_sessions. Not while a restart is pending: the backoff decides those.
void SessionPool::Impl::grow() {
  if (restart_scheduled || backoff.state() != CircuitState::closed) return;
  int starting = 0;
  for (auto& m : members) starting += m->state == State::starting;
  while (live_members() < opts.max_sessions &&
         static_cast<std::size_t>(starting) * opts.max_inflight_per_session < queue.size()) {
    add_shared_member();
    ++starting;
  }
}

void SessionPool::Impl::pump() {
  while (!queue.empty()) {
    auto m = claim_least_loaded();
    if (!m) break;
    Pending p = std::move(queue.front());
    queue.pop_front();
    run_on(m, std::move(p));
  }
  if (!queue.empty()) grow();
  refresh_stats();
}

void SessionPool::Impl::run_on(const std::shared_ptr<Member>& m, Pending p) {
  auto now = Clock::now();
  if (now >= p.deadline) {
    release(m);
    p.done(make_error(Errc::timeout, server() + ": " + p.req.what() + " timed out while waiting for a session"));
    return;
  }
  if (p.req.cancel && p.req.cancel->cancelled()) {
    release(m);
    p.done(make_error(Errc::cancelled, server() + ": " + p.req.what() + " cancelled: " + p.req.cancel->reason()));
    return;
  }
  if (m->offered) {  // a shared session the node could have evicted: busy now
    m->offered = false;
    opts.limits->withdraw_idle(m->seat);
  }
  m->last_used = now;
  if (!p.req.method.empty()) {
    request_on(m, std::move(p));
    return;
  }
  start_call(m, std::move(p));
}

std::function<void(Result<Json>)> SessionPool::Impl::finisher(const std::shared_ptr<Member>& m, Pending p) {
  std::weak_ptr<Impl> weak = weak_from_this();
  std::string timeout_message =
      server() + ": " + p.req.what() + " timed out after " + std::to_string(p.timeout.count()) + " ms";
  return [weak, m, done = std::move(p.done), reset = p.session_reset,
          timeout_message = std::move(timeout_message)](Result<Json> r) {
    // Free the slot, and queue what the pool does with the session now (the next queued call,
    // or offering it to the node as idle), before the caller hears: a caller that calls again
    // at once finds the slot free, and the session evictable. Then answer straight from the
    // session's strand.
    --m->in_flight;
    auto self = weak.lock();
    if (self) {
      --self->st_in_flight;
      asio::post(self->strand, [self, m] {
        m->last_used = Clock::now();
        if (self->closing) {
          self->maybe_finish_close();
        } else if (m->session_id.empty()) {
          self->pump();
          self->settle_shared(m);
        } else if (m->state != State::dead) {
          self->settle_isolated(m);
        }
      });
    }
    if (r.ok()) {
      done(CallResult{std::move(r).value(), reset, m->session});
    } else if (r.error().code == Errc::timeout) {
      // The session saw what was left of the deadline; say what the caller asked for.
      done(make_error(Errc::timeout, timeout_message));
    } else {
      done(r.error());
    }
  };
}

void SessionPool::Impl::request_on(const std::shared_ptr<Member>& m, Pending p) {
  if (!p.req.capability.empty()) {
    const auto& caps = m->session->server().capabilities;
    if (!caps.is_object() || !caps.contains(p.req.capability)) {
      release(m);
      p.done(make_error(Errc::invalid_request, server() + " does not offer " + p.req.capability +
                                                   " (it does not declare the '" + p.req.capability +
                                                   "' capability)"));
      return;
    }
  }
  const auto now = Clock::now();
  auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(p.deadline - now);
  if (timeout.count() <= 0) timeout = 1ms;
  Json params = std::move(p.req.params);
  if (p.req.meta.is_object() && !p.req.meta.empty()) {
    if (!params.is_object()) params = Json::object();
    for (auto& [k, v] : p.req.meta.items()) params["_meta"][k] = v;
  }
  std::string method = p.req.method;
  auto done = finisher(m, std::move(p));
  m->session->request(std::move(method), std::move(params), timeout, std::move(done));
}

}  // namespace mcpd::pool
