// SessionPool isolated sessions: one MCP session per session_id, started on its first call,
// at most max_inflight_per_session calls on it at once (the others wait, counted in
// max_queue), the least-recently-used idle one evicted when full (this server's own limit, or
// the node's through NodeLimits); idle shared sessions above minSessions, offered to the node
// the same way; and the sweep that expires queued calls past their deadline and closes
// sessions idle past idle_ttl (isolated ones, and shared ones above minSessions).
#include "pool/pool_impl.hpp"

#include <asio/post.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace mcpd::pool {

using namespace std::chrono_literals;

void SessionPool::Impl::route_isolated(Pending p) {
  const std::string sid = *p.req.session_id;
  auto it = isolated.find(sid);
  if (Clock::now() >= p.deadline) {  // it waited for the tool list that long: start nothing for it
    if (it == isolated.end()) refused_session(sid);
    p.done(make_error(Errc::timeout, server() + ": " + p.req.what() + " timed out after " +
                                         std::to_string(p.timeout.count()) + " ms waiting for its session"));
    return;
  }
  if (it == isolated.end()) {
    // A new session: its first call waits for it to start, so it needs room in the queue, a
    // place among this server's isolated sessions and a seat on the node.
    Error refused;
    if (opts.max_isolated_sessions == 0) {
      refused = make_error(Errc::overloaded, server() + " allows no isolated sessions (maxIsolatedSessions is 0)");
    } else if (static_cast<int>(isolated.size()) >= opts.max_isolated_sessions && !evict_one_idle()) {
      refused = make_error(Errc::overloaded, server() + " already has " + std::to_string(isolated.size()) +
                                                 " isolated sessions, all busy (maxIsolatedSessions); retry later");
    } else if (queued() >= opts.max_queue) {
      refused = queue_full();
    }
    std::shared_ptr<NodeLimits::Seat> seat;
    if (refused.message.empty() && !(seat = take_seat())) refused = node_full();
    if (!refused.message.empty()) {
      refused_session(sid);
      p.done(refused);
      return;
    }
    p.session_reset = lost_ids.erase(sid) > 0 || p.req.session_reset;
    it = isolated.emplace(sid, start_member(sid, std::move(seat))).first;
    wait_on(it->second, std::move(p));
    refresh_stats();
    ensure_sweep();
    return;
  }
  auto m = it->second;
  m->last_used = Clock::now();
  opts.limits->withdraw_idle(m->seat);  // busy: not the node's to evict now
  if (m->state == State::ready && m->waiting.empty() && claim(m)) {
    run_on(m, std::move(p));
    return;
  }
  if (queued() >= opts.max_queue) {
    p.done(queue_full());
    return;
  }
  wait_on(m, std::move(p));
  refresh_stats();
  ensure_sweep();
}

void SessionPool::Impl::refused_session(const std::string& session_id) {
  if (opts.on_isolated_closed) opts.on_isolated_closed(session_id);
}

void SessionPool::Impl::wait_on(const std::shared_ptr<Member>& m, Pending p) {
  m->waiting.push_back(std::move(p));
  ++isolated_waiting;
}

void SessionPool::Impl::fail_waiting(const std::shared_ptr<Member>& m, const Error& e) {
  auto taken = take(m->waiting);
  isolated_waiting -= static_cast<int>(taken.size());
  refresh_stats();
  for (auto& p : taken) p.done(e);
}

void SessionPool::Impl::settle_isolated(const std::shared_ptr<Member>& m) {
  if (m->state != State::ready) return;
  while (!m->waiting.empty() && claim(m)) {
    Pending p = std::move(m->waiting.front());
    m->waiting.pop_front();
    --isolated_waiting;
    run_on(m, std::move(p));
  }
  refresh_stats();
  if (m->in_flight > 0 || !m->waiting.empty() || closing) return;
  if (m->evict_when_idle) {
    spdlog::info("[{}] closing isolated session {}: the node needs its place for another session", opts.name, m->label);
    retire(m);
    return;
  }
  offer_to_node(m);
}

void SessionPool::Impl::offer_to_node(const std::shared_ptr<Member>& m) {
  std::weak_ptr<Impl> weak = weak_from_this();
  std::weak_ptr<Member> weak_m = m;
  opts.limits->offer_idle(m->seat, m->last_used, [weak, weak_m] {
    auto self = weak.lock();
    if (!self) return;
    asio::post(self->strand, [self, weak_m] {
      auto m = weak_m.lock();
      if (!m || m->state == State::dead) return;
      // Its seat is another session's now: it takes no new call and closes once idle (at
      // once, if a call did not come in first).
      m->evict_when_idle = true;
      if (m->session_id.empty()) self->settle_shared(m);
      else self->settle_isolated(m);
    });
  });
}

void SessionPool::Impl::settle_shared(const std::shared_ptr<Member>& m) {
  if (m->state != State::ready || m->in_flight > 0 || closing) return;
  if (m->evict_when_idle) {
    if (!take_out_if_idle(m)) return;  // a call from the lane came first: its end settles it again
    spdlog::info("[{}] closing session {}: the node needs its place for another session", opts.name, m->label);
    retire(m);
    if (live_members() < opts.min_sessions) schedule_restart(opts.backoff.initial);
    return;
  }
  if (live_members() <= opts.min_sessions) return;  // minSessions stay, idle or not
  // A tool list being fetched may be on it (the first call waits for that list): not yet.
  if (tools_fetching || !tools_waiters.empty()) return;
  if (!take_out_if_idle(m)) return;
  m->offered = true;  // out of the lane until a call takes it back (run_on)
  offer_to_node(m);  // once taken, claim_least_loaded skips it
  ensure_sweep();  // closes it after idle_ttl if nobody needs it before
}

bool SessionPool::Impl::evict_one_idle() {
  std::shared_ptr<Member> lru;
  for (auto& [id, m] : isolated) {
    if (m->in_flight > 0 || !m->waiting.empty() || m->state != State::ready) continue;
    if (!lru || m->last_used < lru->last_used) lru = m;
  }
  if (!lru) return false;
  spdlog::info("[{}] evicting idle isolated session {} to make room", opts.name, lru->label);
  retire(lru);
  return true;
}

void SessionPool::Impl::ensure_sweep() {
  if (sweep_scheduled) return;
  sweep_scheduled = true;
  auto every = std::clamp<std::chrono::milliseconds>(opts.idle_ttl / 4, 20ms, 1000ms);
  sweep_timer.expires_after(every);
  sweep_timer.async_wait([self = shared_from_this()](const std::error_code& ec) {
    self->sweep_scheduled = false;
    if (ec) return;
    self->sweep();
  });
}

void SessionPool::Impl::sweep() {
  auto now = Clock::now();
  std::deque<Pending> keep;
  std::vector<Pending> expired;
  for (auto& p : queue) {
    if (now >= p.deadline) {
      expired.push_back(std::move(p));
    } else {
      keep.push_back(std::move(p));
    }
  }
  queue.swap(keep);
  for (auto& p : expired)
    p.done(make_error(Errc::timeout, server() + ": " + p.req.what() + " timed out waiting in the queue"));
  // Calls waiting for an isolated session (its start, or a free slot) have deadlines too.
  std::vector<Pending> late;
  for (auto& [id, m] : isolated) {
    for (auto w = m->waiting.begin(); w != m->waiting.end();) {
      if (now < w->deadline) {
        ++w;
        continue;
      }
      late.push_back(std::move(*w));
      w = m->waiting.erase(w);
      --isolated_waiting;
    }
  }
  for (auto& p : late)
    p.done(make_error(Errc::timeout, server() + ": " + p.req.what() + " timed out after " +
                                         std::to_string(p.timeout.count()) + " ms waiting for its session"));
  std::vector<std::shared_ptr<Member>> idle;
  for (auto& [id, m] : isolated)
    if (m->state == State::ready && m->in_flight == 0 && m->waiting.empty() && now - m->last_used >= opts.idle_ttl)
      idle.push_back(m);
  for (auto& m : idle) {
    spdlog::info("[{}] closing isolated session {}: idle for {} ms", opts.name, m->label, opts.idle_ttl.count());
    retire(m);
  }
  // Shared sessions above minSessions go the same way, the least recently used first.
  std::vector<std::shared_ptr<Member>> idle_shared;
  for (auto& m : members)
    if (m->state == State::ready && m->in_flight == 0 && now - m->last_used >= opts.idle_ttl) idle_shared.push_back(m);
  std::sort(idle_shared.begin(), idle_shared.end(), [](const auto& a, const auto& b) { return a->last_used < b->last_used; });
  for (auto& m : idle_shared) {
    if (live_members() <= opts.min_sessions) break;
    if (!take_out_if_idle(m)) continue;
    spdlog::info("[{}] closing session {}: idle for {} ms", opts.name, m->label, opts.idle_ttl.count());
    retire(m);
  }
  refresh_stats();
  if (!queue.empty() || !isolated.empty() || live_members() > opts.min_sessions) ensure_sweep();
}

}  // namespace mcpd::pool
