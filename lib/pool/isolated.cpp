// SessionPool isolated sessions: one MCP session per session_id, started on its first call,
// the least-recently-used idle one evicted when full; and the sweep that expires queued calls
// past their deadline and closes isolated sessions idle past idle_ttl.
#include "pool/pool_impl.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace mcpd::pool {

using namespace std::chrono_literals;

void SessionPool::Impl::route_isolated(Pending p) {
  const std::string& sid = *p.req.session_id;
  auto it = isolated.find(sid);
  if (it == isolated.end()) {
    if (static_cast<int>(isolated.size()) >= opts.max_isolated_sessions && !evict_one_idle()) {
      p.done(make_error(Errc::overloaded, server() + " already has " + std::to_string(isolated.size()) +
                                              " isolated sessions, all busy (maxIsolatedSessions); retry later"));
      return;
    }
    if (opts.max_isolated_sessions == 0) {
      p.done(make_error(Errc::overloaded, server() + " allows no isolated sessions (maxIsolatedSessions is 0)"));
      return;
    }
    p.session_reset = lost_ids.erase(sid) > 0 || p.req.session_reset;
    auto m = start_member(sid);
    it = isolated.emplace(sid, m).first;
    refresh_stats();
    ensure_sweep();
  }
  auto m = it->second;
  m->last_used = Clock::now();
  if (m->state == State::ready) {
    run_on(m, std::move(p));
  } else {
    m->waiting.push_back(std::move(p));
  }
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
    p.done(make_error(Errc::timeout, server() + ": call to '" + p.req.tool + "' timed out waiting in the queue"));
  std::vector<std::shared_ptr<Member>> idle;
  for (auto& [id, m] : isolated)
    if (m->state == State::ready && m->in_flight == 0 && m->waiting.empty() && now - m->last_used >= opts.idle_ttl)
      idle.push_back(m);
  for (auto& m : idle) {
    spdlog::info("[{}] closing isolated session {}: idle for {} ms", opts.name, m->label, opts.idle_ttl.count());
    retire(m);
  }
  refresh_stats();
  if (!queue.empty() || !isolated.empty()) ensure_sweep();
}

}  // namespace mcpd::pool
