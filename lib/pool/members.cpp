// SessionPool member lifecycle: starting a session, its open and close, restarting shared
// sessions with backoff, and the circuit breaker that stops restarting a failing server.
#include "pool/pool_impl.hpp"

#include <asio/post.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace mcpd::pool {

using namespace std::chrono_literals;

namespace {
// A session that dies sooner than this after opening counts as a failure for the breaker.
constexpr auto kHealthyUptime = 10s;
constexpr std::size_t kMaxRememberedLostIds = 10000;
}  // namespace

void SessionPool::Impl::refresh_stats() {
  int ready = 0, starting = 0;
  for (auto& m : members) {
    if (m->state == State::ready) ++ready;
    if (m->state == State::starting) ++starting;
  }
  st_ready = ready;
  st_starting = starting;
  st_isolated = static_cast<int>(isolated.size());
  st_queued = queued();
  st_circuit = backoff.state();
  update_lane();
}

Error SessionPool::Impl::circuit_error() const {
  auto wait = std::chrono::duration_cast<std::chrono::seconds>(open_until - Clock::now()).count();
  std::string msg = server() + " is unavailable: it failed " + std::to_string(backoff.failures()) +
                    " times in a row; next attempt in " + std::to_string(std::max<long>(wait, 0)) + " s";
  auto last = get_last_error();
  if (!last.empty()) msg += " (last error: " + last + ")";
  return make_error(Errc::unavailable, std::move(msg));
}

bool SessionPool::Impl::circuit_blocks() {
  if (backoff.state() != CircuitState::open) return false;
  if (Clock::now() < open_until) return true;
  backoff.half_open();
  refresh_stats();
  spdlog::info("[{}] circuit half-open: trying one session", opts.name);
  return false;
}

Status SessionPool::Impl::refusal() {
  if (closing) return shutting_down();
  if (circuit_blocks()) return circuit_error();
  return {};
}

std::shared_ptr<NodeLimits::Seat> SessionPool::Impl::take_seat() {
  // Only local processes count against max_live_processes (limit_starts says the server has one).
  return opts.limits->take_seat(opts.limit_starts, &refused_by);
}

Error SessionPool::Impl::node_full() const {
  if (refused_by == "max_live_processes")
    return make_error(Errc::overloaded, server() + ": this node already runs " +
                                            std::to_string(opts.limits->options().max_live_processes) +
                                            " server processes ([node] max_live_processes) and none of them is idle; "
                                            "retry later");
  return make_error(Errc::overloaded, server() + ": this node already runs " +
                                          std::to_string(opts.limits->options().max_sessions) +
                                          " MCP sessions ([node] max_sessions) and none of them is idle; retry later");
}

namespace {
// A start permit of NodeLimits, returned when the last holder lets go of it.
class StartPermit {
 public:
  explicit StartPermit(std::shared_ptr<NodeLimits> limits) : limits_(std::move(limits)) {}
  ~StartPermit() { limits_->release_start(); }
  StartPermit(const StartPermit&) = delete;
  StartPermit& operator=(const StartPermit&) = delete;

 private:
  std::shared_ptr<NodeLimits> limits_;
};
}  // namespace

std::shared_ptr<SessionPool::Impl::Member> SessionPool::Impl::start_member(const std::string& session_id,
                                                                           std::shared_ptr<NodeLimits::Seat> seat) {
  auto m = std::make_shared<Member>();
  m->session_id = session_id;
  m->seat = std::move(seat);
  m->label = session_id.empty() ? opts.name + "#" + std::to_string(next_label++) : opts.name + "@" + session_id;
  m->session = factory(m->label);
  std::weak_ptr<Impl> weak = weak_from_this();
  // The session keeps these handlers for its whole life: hold the member weakly, no cycle.
  std::weak_ptr<Member> weak_m = m;
  m->session->on_closed([weak, weak_m](const Error& e) {
    auto self = weak.lock();
    auto member = weak_m.lock();
    if (self && member) asio::post(self->strand, [self, member, e] { self->on_closed(member, e); });
  });
  m->session->on_tools_changed([weak](mcp::Tools t) {
    if (auto self = weak.lock()) asio::post(self->strand, [self, t] { self->set_tools(t); });
  });
  if (!opts.limit_starts) {
    open_member(m, nullptr);
    return m;
  }
  // Granted at once or when another start ends, on whichever thread that is: back to the strand.
  opts.limits->wait_for_start([weak, weak_m, limits = opts.limits] {
    auto permit = std::make_shared<StartPermit>(limits);
    auto self = weak.lock();
    if (!self) return;  // the permit goes back with `permit`
    asio::post(self->strand, [self, weak_m, permit] {
      auto m = weak_m.lock();
      if (!m || m->state == State::dead) return;
      if (!m->session_id.empty() && m->waiting.empty()) {
        // Every call that wanted it gave up while it waited its turn: start nothing.
        spdlog::debug("[{}] not starting {}: no call is waiting for it any more", self->opts.name, m->label);
        self->forget(m);
        m->session->close();
        return;
      }
      self->open_member(m, permit);
    });
  });
  return m;
}

void SessionPool::Impl::open_member(const std::shared_ptr<Member>& m, std::shared_ptr<void> permit) {
  std::weak_ptr<Impl> weak = weak_from_this();
  std::weak_ptr<Member> weak_m = m;
  m->session->start([weak, weak_m, permit = std::move(permit)](Result<mcp::ServerDescription> r) mutable {
    permit.reset();  // ready or failed: the next start may begin
    auto self = weak.lock();
    auto member = weak_m.lock();
    if (self && member) asio::post(self->strand, [self, member, r = std::move(r)] { self->on_opened(member, r); });
  });
}

bool SessionPool::Impl::add_shared_member() {
  auto seat = take_seat();
  if (!seat) {
    spdlog::debug("[{}] no session started: {}", opts.name, node_full().message);
    return false;
  }
  members.push_back(start_member("", std::move(seat)));
  refresh_stats();
  return true;
}

int SessionPool::Impl::live_members() const {
  return static_cast<int>(std::count_if(members.begin(), members.end(), [](auto& m) { return m->state != State::dead; }));
}

void SessionPool::Impl::on_opened(const std::shared_ptr<Member>& m, const Result<mcp::ServerDescription>& r) {
  if (m->state == State::dead) return;
  if (!r.ok()) {
    on_closed(m, r.error());
    return;
  }
  m->state = State::ready;
  m->ready_at = Clock::now();
  {
    MutexLock lock(lane_mu);
    runs_tool_tasks = mcp::server_runs_tool_tasks(r.value().capabilities);
  }
  if (backoff.state() != CircuitState::closed) spdlog::info("[{}] circuit closed: a session opened", opts.name);
  if (backoff.state() != CircuitState::closed || backoff.failures() > 0) backoff.success();
  refresh_stats();
  if (closing) {
    maybe_finish_close();
    return;
  }
  if (!m->session_id.empty()) {
    settle_isolated(m);
  } else {
    pump();
    settle_shared(m);
  }
  if (!tools_waiters.empty() && !tools_fetching) fetch_tools(false);
}

void SessionPool::Impl::on_closed(const std::shared_ptr<Member>& m, const Error& e) {
  if (m->state == State::dead) return;
  const bool was_ready = m->state == State::ready;
  forget(m);
  if (closing) {
    fail_waiting(m, shutting_down());
    maybe_finish_close();
    return;
  }
  set_last_error(e.message);
  spdlog::warn("[{}] session {} closed: {}", opts.name, m->label, e.message);
  const bool healthy = was_ready && Clock::now() - m->ready_at >= kHealthyUptime;
  if (healthy) backoff.success();
  auto delay = backoff.failure();
  if (backoff.state() == CircuitState::open) {
    open_until = Clock::now() + backoff.policy().cooldown;
    spdlog::error("[{}] circuit open after {} failures in a row; next attempt in {} ms: {}", opts.name,
                  backoff.failures(), backoff.policy().cooldown.count(), e.message);
    delay = backoff.policy().cooldown;
    fail_waiting(m, circuit_error());
    fail_queue(circuit_error());
    answer_tools(circuit_error());
  }
  refresh_stats();
  if (!m->session_id.empty()) {
    // The caller's session state is gone; the next call with this id starts afresh and says so.
    if (was_ready) {
      if (lost_ids.size() >= kMaxRememberedLostIds) lost_ids.clear();
      lost_ids.insert(m->session_id);
    }
    fail_waiting(m, e);
    return;
  }
  schedule_restart(delay);
}

void SessionPool::Impl::forget(const std::shared_ptr<Member>& m) {
  m->state = State::dead;
  m->seat.reset();  // its place on the node is free for another session
  std::erase(members, m);
  if (!m->session_id.empty()) {
    // The id may already name a newer session; that one stays.
    auto it = isolated.find(m->session_id);
    if (it != isolated.end() && it->second == m) isolated.erase(it);
    if (opts.on_isolated_closed) opts.on_isolated_closed(m->session_id);
  }
  refresh_stats();
}

void SessionPool::Impl::retire(const std::shared_ptr<Member>& m) {
  forget(m);
  m->session->close();
}

void SessionPool::Impl::schedule_restart(std::chrono::milliseconds delay) {
  if (restart_scheduled || closing) return;
  restart_scheduled = true;
  restart_timer.expires_after(delay);
  restart_timer.async_wait([self = shared_from_this()](const std::error_code& ec) {
    self->restart_scheduled = false;
    if (ec || self->closing) return;
    if (self->backoff.state() == CircuitState::open) self->circuit_blocks();  // may half-open
    const bool needed = self->live_members() < self->opts.min_sessions || !self->queue.empty() ||
                        !self->tools_waiters.empty();
    if (!needed || self->live_members() >= self->opts.max_sessions) return;
    // A node without a free seat: try again later (a seat frees when any session ends).
    if (!self->add_shared_member()) {
      self->schedule_restart(std::max(self->opts.backoff.initial, std::chrono::milliseconds(1000)));
      return;
    }
    ++self->st_restarts;
    spdlog::info("[{}] started a replacement session", self->opts.name);
    if (self->live_members() < self->opts.min_sessions) self->schedule_restart(self->opts.backoff.initial);
  });
}

}  // namespace mcpd::pool
