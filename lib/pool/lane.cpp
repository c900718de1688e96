// SessionPool's lane and slots: a plain tool call to a shared session with a free slot is
// dispatched on the caller's own thread (for a NATS request, its delivery thread), sent to the
// session from there, and answered from the session's strand, so the pool's strand is not
// woken for it. Everything else (isolated sessions, queued calls, unknown tools, requests other
// than tools/call, a closing pool or an open circuit) goes through the strand as before.
//
// Slots are claimed under lane_mu wherever a call starts, and the strand takes a session out of
// the lane under the same lock when it finds it idle, so a session is never offered to the
// node, or closed, with a call the lane just gave it.
#include "pool/pool_impl.hpp"

namespace mcpd::pool {

using namespace std::chrono_literals;

bool SessionPool::Impl::try_lane(Pending& p) {
  if (!p.req.method.empty()) return false;
  if (p.req.session_id && opts.isolate_by_session_id) return false;
  if (p.req.cancel && p.req.cancel->cancelled()) return false;  // the strand says so
  std::shared_ptr<Member> best;
  {
    MutexLock lock(lane_mu);
    if (!lane_open || !tool_modes || !tool_modes->count(p.req.tool)) return false;
    best = claim_fewest(lane, [](const Member&) { return true; });  // the lane holds only usable ones
    if (!best) return false;
  }
  ++st_calls;
  start_call(best, std::move(p));
  return true;
}

void SessionPool::Impl::update_lane() {
  MutexLock lock(lane_mu);
  lane.clear();
  lane_open = !lane_shut && !closing && backoff.state() == CircuitState::closed && queue.empty();
  if (!lane_open) return;
  for (const auto& m : members)
    if (m->state == State::ready && !m->offered && !m->evict_when_idle) lane.push_back(m);
}

void SessionPool::Impl::shut_lane() {
  MutexLock lock(lane_mu);
  lane_shut = true;
  lane_open = false;
  lane.clear();
}

bool SessionPool::Impl::claim(const std::shared_ptr<Member>& m) {
  MutexLock lock(lane_mu);
  if (m->in_flight.load() >= opts.max_inflight_per_session) return false;
  ++m->in_flight;
  ++st_in_flight;
  return true;
}

std::shared_ptr<SessionPool::Impl::Member> SessionPool::Impl::claim_least_loaded() {
  MutexLock lock(lane_mu);
  return claim_fewest(members, [](const Member& m) { return m.state == State::ready && !m.evict_when_idle; });
}

std::shared_ptr<SessionPool::Impl::Member> SessionPool::Impl::claim_fewest(
    const std::vector<std::shared_ptr<Member>>& from, bool (*usable)(const Member&)) {
  std::shared_ptr<Member> best;
  int fewest = opts.max_inflight_per_session;
  for (const auto& m : from) {
    if (!usable(*m)) continue;
    const int n = m->in_flight.load();
    if (n < fewest) {
      fewest = n;
      best = m;
    }
  }
  if (best) {
    ++best->in_flight;
    ++st_in_flight;
  }
  return best;
}

void SessionPool::Impl::release(const std::shared_ptr<Member>& m) {
  --m->in_flight;
  --st_in_flight;
}

bool SessionPool::Impl::take_out_if_idle(const std::shared_ptr<Member>& m) {
  MutexLock lock(lane_mu);
  if (m->in_flight.load() > 0) return false;
  std::erase(lane, m);
  return true;
}

void SessionPool::Impl::start_call(const std::shared_ptr<Member>& m, Pending p) {
  auto now = Clock::now();
  mcp::CallOptions o;
  o.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(p.deadline - now);
  if (o.timeout.count() <= 0) o.timeout = 1ms;
  o.on_progress = std::move(p.req.on_progress);
  o.task = std::move(p.req.task);
  o.meta = std::move(p.req.meta);
  auto cancel = std::move(p.req.cancel);
  std::string tool = p.req.tool;
  Json arguments = std::move(p.req.arguments);
  auto done = finisher(m, std::move(p));
  auto id = m->session->call_tool(std::move(tool), std::move(arguments), std::move(o), std::move(done));
  if (cancel) {
    std::weak_ptr<mcp::ClientSession> session = m->session;
    cancel->arm([session, id](const std::string& reason) {
      if (auto s = session.lock()) s->cancel_call(id, reason);
    });
  }
}

}  // namespace mcpd::pool
