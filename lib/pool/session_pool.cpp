#include "pool/session_pool.hpp"

#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <deque>
#include <mutex>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace mcpd::pool {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {
// A session that dies sooner than this after opening counts as a failure for the breaker.
constexpr auto kHealthyUptime = 10s;
constexpr std::size_t kMaxRememberedLostIds = 10000;
}  // namespace

struct SessionPool::Impl : std::enable_shared_from_this<Impl> {
  using Done = std::function<void(Result<CallResult>)>;

  struct Pending {
    CallRequest req;
    Done done;
    Clock::time_point deadline;
    bool session_reset = false;
    std::chrono::milliseconds timeout{0};  // as the caller asked, for messages
  };
  enum class State { starting, ready, dead };
  // One MCP session: a shared member of the pool, or the isolated session of one session_id.
  struct Member {
    std::string label;
    std::string session_id;  // empty for shared members
    std::shared_ptr<mcp::ClientSession> session;
    State state = State::starting;
    std::atomic<int> in_flight{0};  // decremented on the session's strand, before the caller hears
    Clock::time_point ready_at{}, last_used = Clock::now();
    std::vector<Pending> waiting;  // isolated only: calls that arrived while it opened
  };

  Impl(io::Loop& loop, PoolOptions o, SessionFactory f)
      : strand(loop.make_strand()),
        opts(std::move(o)),
        factory(std::move(f)),
        backoff(opts.backoff),
        restart_timer(strand),
        sweep_timer(strand),
        drain_timer(strand) {}

  io::Strand strand;
  PoolOptions opts;
  SessionFactory factory;
  Backoff backoff;
  asio::steady_timer restart_timer, sweep_timer, drain_timer;
  bool restart_scheduled = false, sweep_scheduled = false;
  Clock::time_point open_until{};

  std::vector<std::shared_ptr<Member>> members;  // shared sessions
  std::unordered_map<std::string, std::shared_ptr<Member>> isolated;
  std::unordered_set<std::string> lost_ids;
  std::deque<Pending> queue;
  int next_label = 1;

  mcp::Tools tools;
  std::unordered_set<std::string> tool_names;
  bool tools_stale = true, tools_fetching = false;
  std::vector<std::function<void(Result<mcp::Tools>)>> tools_waiters;

  bool closing = false, closed = false;
  int closing_sessions = 0;
  std::vector<std::function<void()>> close_waiters;

  // Stats readable from any thread.
  std::atomic<int> st_ready{0}, st_starting{0}, st_isolated{0}, st_in_flight{0}, st_queued{0};
  std::atomic<std::uint64_t> st_calls{0}, st_restarts{0};
  std::atomic<CircuitState> st_circuit{CircuitState::closed};
  mutable std::mutex err_mu;
  std::string last_error;

  // --- helpers -------------------------------------------------------------------------------
  std::string server() const { return "server '" + opts.name + "'"; }

  void set_last_error(const std::string& e) {
    std::lock_guard lock(err_mu);
    last_error = e;
  }
  std::string get_last_error() const {
    std::lock_guard lock(err_mu);
    return last_error;
  }

  void refresh_stats() {
    int ready = 0, starting = 0;
    for (auto& m : members) {
      if (m->state == State::ready) ++ready;
      if (m->state == State::starting) ++starting;
    }
    st_ready = ready;
    st_starting = starting;
    st_isolated = static_cast<int>(isolated.size());
    st_queued = static_cast<int>(queue.size());
    st_circuit = backoff.state();
  }

  Error circuit_error() const {
    auto wait = std::chrono::duration_cast<std::chrono::seconds>(open_until - Clock::now()).count();
    std::string msg = server() + " is unavailable: it failed " + std::to_string(backoff.failures()) +
                      " times in a row; next attempt in " + std::to_string(std::max<long>(wait, 0)) + " s";
    auto last = get_last_error();
    if (!last.empty()) msg += " (last error: " + last + ")";
    return make_error(Errc::unavailable, std::move(msg));
  }

  // True when calls should fail fast; moves open → half-open once the cool-down has passed.
  bool circuit_blocks() {
    if (backoff.state() != CircuitState::open) return false;
    if (Clock::now() < open_until) return true;
    backoff.half_open();
    refresh_stats();
    spdlog::info("[{}] circuit half-open: trying one session", opts.name);
    return false;
  }

  // --- sessions ------------------------------------------------------------------------------
  std::shared_ptr<Member> start_member(const std::string& session_id) {
    auto m = std::make_shared<Member>();
    m->session_id = session_id;
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
    m->session->start([weak, weak_m](Result<mcp::ServerDescription> r) {
      auto self = weak.lock();
      auto member = weak_m.lock();
      if (self && member) asio::post(self->strand, [self, member, r = std::move(r)] { self->on_opened(member, r); });
    });
    return m;
  }

  void add_shared_member() {
    members.push_back(start_member(""));
    refresh_stats();
  }

  int live_members() const {
    return static_cast<int>(std::count_if(members.begin(), members.end(), [](auto& m) { return m->state != State::dead; }));
  }

  void on_opened(const std::shared_ptr<Member>& m, const Result<mcp::ServerDescription>& r) {
    if (m->state == State::dead) return;
    if (!r.ok()) {
      on_closed(m, r.error());
      return;
    }
    m->state = State::ready;
    m->ready_at = Clock::now();
    if (backoff.state() != CircuitState::closed) spdlog::info("[{}] circuit closed: a session opened", opts.name);
    if (backoff.state() != CircuitState::closed || backoff.failures() > 0) backoff.success();
    refresh_stats();
    if (closing) {
      maybe_finish_close();
      return;
    }
    if (!m->session_id.empty()) {
      auto waiting = std::move(m->waiting);
      m->waiting.clear();
      for (auto& p : waiting) run_on(m, std::move(p));
    } else {
      pump();
    }
    if (!tools_waiters.empty() && !tools_fetching) fetch_tools(false);
  }

  void on_closed(const std::shared_ptr<Member>& m, const Error& e) {
    if (m->state == State::dead) return;
    const bool was_ready = m->state == State::ready;
    m->state = State::dead;
    std::erase(members, m);
    if (!m->session_id.empty()) {
      auto it = isolated.find(m->session_id);
      if (it != isolated.end() && it->second == m) isolated.erase(it);
      if (opts.on_isolated_closed) opts.on_isolated_closed(m->session_id);
    }
    refresh_stats();
    if (closing) {
      fail_all(m->waiting, make_error(Errc::unavailable, server() + " is shutting down"));
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
      fail_all(m->waiting, circuit_error());
      fail_queue(circuit_error());
      fail_tools(circuit_error());
    }
    refresh_stats();
    if (!m->session_id.empty()) {
      // The caller's session state is gone; the next call with this id starts afresh and says so.
      if (was_ready) {
        if (lost_ids.size() >= kMaxRememberedLostIds) lost_ids.clear();
        lost_ids.insert(m->session_id);
      }
      fail_all(m->waiting, e);
      return;
    }
    schedule_restart(delay);
  }

  void schedule_restart(std::chrono::milliseconds delay) {
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
      ++self->st_restarts;
      spdlog::info("[{}] starting a replacement session", self->opts.name);
      self->add_shared_member();
      if (self->live_members() < self->opts.min_sessions) self->schedule_restart(self->opts.backoff.initial);
    });
  }

  // --- calls ---------------------------------------------------------------------------------
  void fail_all(std::vector<Pending>& list, const Error& e) {
    auto taken = std::move(list);
    list.clear();
    for (auto& p : taken) p.done(e);
  }

  void fail_queue(const Error& e) {
    auto taken = std::move(queue);
    queue.clear();
    refresh_stats();
    for (auto& p : taken) p.done(e);
  }

  void submit(Pending p) {
    ++st_calls;
    if (closing) {
      p.done(make_error(Errc::unavailable, server() + " is shutting down"));
      return;
    }
    if (circuit_blocks()) {
      p.done(circuit_error());
      return;
    }
    check_tool(std::move(p));
  }

  // unknown_tool is decided from the tool list: SDK servers answer an unknown tool with an
  // isError result, not an error, so asking the server is not enough.
  void check_tool(Pending p) {
    if (tools && tool_names.count(p.req.tool)) {
      route(std::move(p));
      return;
    }
    const bool had_list = tools != nullptr;
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
              std::string names;
              int n = 0;
              for (const auto& t : *r.value()) {
                if (n++ == 20) {
                  names += ", ...";
                  break;
                }
                names += (names.empty() ? "" : ", ") + t.value("name", std::string());
              }
              shared_p->done(make_error(Errc::unknown_tool, self->server() + " has no tool '" + shared_p->req.tool +
                                                                "' (its tools: " + (names.empty() ? "none" : names) + ")"));
              return;
            }
            if (self->closing) {
              shared_p->done(make_error(Errc::unavailable, self->server() + " is shutting down"));
              return;
            }
            self->route(std::move(*shared_p));
          });
        },
        had_list);
  }

  void route(Pending p) {
    if (p.req.session_id && opts.isolate_by_session_id) {
      route_isolated(std::move(p));
    } else {
      dispatch(std::move(p));
    }
  }

  std::shared_ptr<Member> least_loaded() {
    std::shared_ptr<Member> best;
    for (auto& m : members) {
      if (m->state != State::ready || m->in_flight >= opts.max_inflight_per_session) continue;
      if (!best || m->in_flight < best->in_flight) best = m;
    }
    return best;
  }

  void dispatch(Pending p) {
    if (auto m = least_loaded()) {
      run_on(m, std::move(p));
      return;
    }
    const int live = live_members();
    if (static_cast<int>(queue.size()) >= opts.max_queue) {
      p.done(make_error(Errc::overloaded, server() + " is overloaded: " + std::to_string(live) + " sessions with " +
                                              std::to_string(opts.max_inflight_per_session) + " calls in flight each and " +
                                              std::to_string(queue.size()) + " calls queued; retry later"));
      return;
    }
    queue.push_back(std::move(p));
    grow();
    refresh_stats();
    ensure_sweep();
  }

  // Starts sessions for the queued calls that the sessions already starting cannot take,
  // up to max_sessions. Not while a restart is pending: the backoff decides those.
  void grow() {
    if (restart_scheduled || backoff.state() != CircuitState::closed) return;
    int starting = 0;
    for (auto& m : members) starting += m->state == State::starting;
    while (live_members() < opts.max_sessions &&
           static_cast<std::size_t>(starting) * opts.max_inflight_per_session < queue.size()) {
      add_shared_member();
      ++starting;
    }
  }

  void pump() {
    while (!queue.empty()) {
      auto m = least_loaded();
      if (!m) break;
      Pending p = std::move(queue.front());
      queue.pop_front();
      run_on(m, std::move(p));
    }
    if (!queue.empty()) grow();
    refresh_stats();
  }

  void route_isolated(Pending p) {
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

  bool evict_one_idle() {
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

  // Closes a member on purpose (idle or evicted): not a failure.
  void retire(const std::shared_ptr<Member>& m) {
    m->state = State::dead;
    if (!m->session_id.empty()) {
      isolated.erase(m->session_id);
      if (opts.on_isolated_closed) opts.on_isolated_closed(m->session_id);
    }
    std::erase(members, m);
    refresh_stats();
    m->session->close();
  }

  void run_on(const std::shared_ptr<Member>& m, Pending p) {
    auto now = Clock::now();
    if (now >= p.deadline) {
      p.done(make_error(Errc::timeout, server() + ": call to '" + p.req.tool + "' timed out while waiting for a session"));
      return;
    }
    ++m->in_flight;
    ++st_in_flight;
    m->last_used = now;
    mcp::CallOptions o;
    o.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(p.deadline - now);
    if (o.timeout.count() <= 0) o.timeout = 1ms;
    o.on_progress = std::move(p.req.on_progress);
    std::weak_ptr<Impl> weak = weak_from_this();
    std::string timeout_message = server() + ": call to '" + p.req.tool + "' timed out after " +
                                  std::to_string(p.timeout.count()) + " ms";
    m->session->call_tool(std::move(p.req.tool), std::move(p.req.arguments), std::move(o),
                          [weak, m, done = std::move(p.done), reset = p.session_reset,
                           timeout_message = std::move(timeout_message)](Result<Json> r) {
                            // Free the slot before the caller hears, so a caller that calls again
                            // at once finds it free; then answer straight from the session's strand.
                            --m->in_flight;
                            auto self = weak.lock();
                            if (self) --self->st_in_flight;
                            if (r.ok()) {
                              done(CallResult{std::move(r).value(), reset});
                            } else if (r.error().code == Errc::timeout) {
                              // The session saw what was left of the deadline; say what the caller asked for.
                              done(make_error(Errc::timeout, timeout_message));
                            } else {
                              done(r.error());
                            }
                            if (self) {
                              asio::post(self->strand, [self, m] {
                                m->last_used = Clock::now();
                                if (self->closing) {
                                  self->maybe_finish_close();
                                } else if (m->session_id.empty()) {
                                  self->pump();
                                }
                              });
                            }
                          });
  }

  // Expires queued calls past their deadline and idle isolated sessions past their TTL.
  void ensure_sweep() {
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

  void sweep() {
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

  // --- tools ---------------------------------------------------------------------------------
  void set_tools(mcp::Tools t) {
    tools = std::move(t);
    tools_stale = false;
    tool_names.clear();
    for (const auto& tool : *tools) tool_names.insert(tool.value("name", std::string()));
  }

  void list_tools_on_strand(std::function<void(Result<mcp::Tools>)> done, bool refresh) {
    if (!refresh && tools && !tools_stale) {
      done(tools);
      return;
    }
    tools_waiters.push_back(std::move(done));
    if (tools_fetching) return;
    fetch_tools(refresh);
  }

  void fetch_tools(bool refresh) {
    std::shared_ptr<Member> source;
    for (auto& m : members)
      if (m->state == State::ready) source = m;
    if (!source)
      for (auto& [id, m] : isolated)
        if (m->state == State::ready) source = m;
    if (!source) {
      if (closing) {
        fail_tools(make_error(Errc::unavailable, server() + " is shutting down"));
      } else if (circuit_blocks()) {
        fail_tools(circuit_error());
      } else if (st_starting.load() == 0 && live_members() < opts.max_sessions && !restart_scheduled) {
        add_shared_member();  // on_opened fetches once it is ready
      }
      return;
    }
    tools_fetching = true;
    std::weak_ptr<Impl> weak = weak_from_this();
    source->session->list_tools(
        [weak](Result<mcp::Tools> r) {
          if (auto self = weak.lock())
            asio::post(self->strand, [self, r = std::move(r)] {
              self->tools_fetching = false;
              if (r.ok()) self->set_tools(r.value());
              auto waiters = std::move(self->tools_waiters);
              self->tools_waiters.clear();
              for (auto& w : waiters) w(r);
            });
        },
        refresh);
  }

  void fail_tools(const Error& e) {
    auto waiters = std::move(tools_waiters);
    tools_waiters.clear();
    for (auto& w : waiters) w(e);
  }

  // --- close ---------------------------------------------------------------------------------
  void begin_close(std::function<void()> done, std::chrono::milliseconds drain) {
    if (done) close_waiters.push_back(std::move(done));
    if (closed) {
      finish_close();
      return;
    }
    if (closing) return;
    closing = true;
    restart_timer.cancel();
    fail_tools(make_error(Errc::unavailable, server() + " is shutting down"));
    drain_timer.expires_after(drain);
    drain_timer.async_wait([self = shared_from_this()](const std::error_code& ec) {
      if (ec) return;
      if (self->st_in_flight.load() > 0 || !self->queue.empty())
        spdlog::warn("[{}] drain timeout: stopping with {} calls in flight and {} queued", self->opts.name,
                     self->st_in_flight.load(), self->queue.size());
      self->stop_sessions();
    });
    maybe_finish_close();
  }

  void maybe_finish_close() {
    if (!closing || closing_sessions > 0 || closed) return;
    bool waiting = st_in_flight.load() > 0 || !queue.empty();
    for (auto& [id, m] : isolated) waiting = waiting || !m->waiting.empty();
    if (!waiting) stop_sessions();
  }

  void stop_sessions() {
    if (closed || closing_sessions > 0) return;
    drain_timer.cancel();
    sweep_timer.cancel();
    fail_queue(make_error(Errc::unavailable, server() + " is shutting down"));
    std::vector<std::shared_ptr<Member>> all = members;
    for (auto& [id, m] : isolated) all.push_back(m);
    members.clear();
    isolated.clear();
    refresh_stats();
    if (all.empty()) {
      closed = true;
      finish_close();
      return;
    }
    closing_sessions = static_cast<int>(all.size());
    for (auto& m : all) {
      fail_all(m->waiting, make_error(Errc::unavailable, server() + " is shutting down"));
      m->state = State::dead;
      m->session->close([self = shared_from_this()] {
        asio::post(self->strand, [self] {
          if (--self->closing_sessions == 0) {
            self->closed = true;
            self->finish_close();
          }
        });
      });
    }
  }

  void finish_close() {
    spdlog::info("[{}] pool closed", opts.name);
    auto waiters = std::move(close_waiters);
    close_waiters.clear();
    for (auto& w : waiters) w();
  }
};

std::shared_ptr<SessionPool> SessionPool::create(io::Loop& loop, PoolOptions options, SessionFactory factory) {
  auto pool = std::shared_ptr<SessionPool>(new SessionPool());
  pool->impl_ = std::make_shared<Impl>(loop, std::move(options), std::move(factory));
  return pool;
}

SessionPool::~SessionPool() {
  // Sessions not closed by close() stop with their transports (which kill their processes).
  if (impl_) asio::post(impl_->strand, [impl = impl_] {
      if (!impl->closing) impl->begin_close({}, impl->opts.drain_timeout);
    });
}

void SessionPool::start() {
  asio::post(impl_->strand, [impl = impl_] {
    while (impl->live_members() < impl->opts.min_sessions) impl->add_shared_member();
  });
}

void SessionPool::call(CallRequest request, std::function<void(Result<CallResult>)> done) {
  auto timeout = request.timeout.count() > 0 ? request.timeout : impl_->opts.call_timeout;
  Impl::Pending p{std::move(request), std::move(done), Clock::now() + timeout, false, timeout};
  asio::post(impl_->strand, [impl = impl_, p = std::move(p)]() mutable { impl->submit(std::move(p)); });
}

void SessionPool::list_tools(std::function<void(Result<mcp::Tools>)> done, bool refresh) {
  asio::post(impl_->strand, [impl = impl_, done = std::move(done), refresh]() mutable {
    if (impl->closing) {
      done(make_error(Errc::unavailable, impl->server() + " is shutting down"));
      return;
    }
    if (impl->circuit_blocks()) {
      done(impl->circuit_error());
      return;
    }
    impl->list_tools_on_strand(std::move(done), refresh);
  });
}

void SessionPool::close(std::function<void()> done, std::optional<std::chrono::milliseconds> drain) {
  auto d = drain.value_or(impl_->opts.drain_timeout);
  asio::post(impl_->strand, [impl = impl_, done = std::move(done), d]() mutable { impl->begin_close(std::move(done), d); });
}

PoolStats SessionPool::stats() const {
  PoolStats s;
  s.sessions_ready = impl_->st_ready;
  s.sessions_starting = impl_->st_starting;
  s.isolated_sessions = impl_->st_isolated;
  s.in_flight = impl_->st_in_flight;
  s.queued = impl_->st_queued;
  s.calls = impl_->st_calls;
  s.restarts = impl_->st_restarts;
  s.circuit = impl_->st_circuit;
  s.last_error = impl_->get_last_error();
  return s;
}

const PoolOptions& SessionPool::options() const { return impl_->opts; }
const std::string& SessionPool::name() const { return impl_->opts.name; }

}  // namespace mcpd::pool
