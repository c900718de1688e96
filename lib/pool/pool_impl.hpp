// Private to lib/pool: the state behind a SessionPool, shared by the .cpp files that implement it.
//   session_pool.cpp  the public methods: those that act post to the strand and call in here
//   members.cpp       starting sessions, their open/close, restart with backoff, circuit breaker
//   dispatch.cpp      admitting calls, least-loaded dispatch to shared sessions, the bounded queue
//   isolated.cpp      sessions by session_id, their in-flight limit and waiting calls, LRU
//                     eviction (the server's own, and the node's through NodeLimits), the sweep
//                     (queue and waiting deadlines, idle TTL of isolated sessions and of shared
//                     ones above minSessions)
//   tools.cpp         the cached tool list
//   close.cpp         draining close
//
// Every member function and every field below is touched only on `strand`, except opts (never
// changed after construction), the st_* counters and last_error (under err_mu), which stats()
// reads from any thread, Member::in_flight, which a session's strand decrements, and the lane
// (under lane_mu), through which SessionPool::call dispatches a plain tool call on the caller's
// own thread: a shared session with a free slot takes it at once, with no hand-off to the strand.
#pragma once

#include "pool/session_pool.hpp"

#include "common/thread_annotations.hpp"

#include <asio/steady_timer.hpp>

#include <atomic>
#include <deque>
#include <mutex>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace mcpd::pool {

using Clock = std::chrono::steady_clock;

// Empties `list` and returns what it held. Callbacks run on the result may add to `list` again,
// so it must be empty (not moved-from) before they run.
template <class Container>
Container take(Container& list) {
  Container taken = std::move(list);
  list.clear();
  return taken;
}

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
    // Isolated only: calls waiting for it to open or for a free slot (counted in max_queue
    // through isolated_waiting: change it with wait_on / next_waiting / fail_waiting only).
    std::deque<Pending> waiting;
    std::shared_ptr<NodeLimits::Seat> seat;  // its place among the node's live sessions
    bool evict_when_idle = false;            // the node took its seat for another session
    bool offered = false;                    // a shared member: offered to the node as idle
  };

  Impl(io::Loop& loop, PoolOptions o, SessionFactory f)
      : strand(loop.make_strand()),
        opts(std::move(o)),
        factory(std::move(f)),
        backoff(opts.backoff),
        restart_timer(strand),
        sweep_timer(strand),
        drain_timer(strand) {
    if (!opts.limits) opts.limits = NodeLimits::unlimited();  // a pool on its own
  }

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
  std::string refused_by = "max_sessions";  // the node limit that refused the last seat (node_full)
  std::deque<Pending> queue;
  int isolated_waiting = 0;  // calls in every isolated member's `waiting`
  int next_label = 1;

  mcp::Tools tools;
  std::unordered_set<std::string> tool_names;
  bool tools_stale = true, tools_fetching = false;
  std::optional<Clock::time_point> last_miss_refresh;  // the last fetch a call to an unknown tool made
  std::vector<std::function<void(Result<mcp::Tools>)>> tools_waiters;

  bool closing = false, closed = false;
  int closing_sessions = 0;
  std::vector<std::function<void()>> close_waiters;

  // Stats readable from any thread.
  std::atomic<int> st_ready{0}, st_starting{0}, st_isolated{0}, st_in_flight{0}, st_queued{0};
  std::atomic<std::uint64_t> st_calls{0}, st_restarts{0}, st_tool_fetches{0};
  std::atomic<CircuitState> st_circuit{CircuitState::closed};
  mutable std::mutex err_mu;
  std::string last_error;
  // The lane: the shared sessions a call may take from any thread (ready, not offered to the
  // node, not being evicted), open while the pool takes calls (not closing, circuit closed,
  // nobody queued). Every slot is claimed under lane_mu, on the strand too, so a call from the
  // lane and the strand's "is it idle?" (before offering a session to the node or closing it)
  // never pass each other.
  Mutex lane_mu;
  bool lane_open MCPD_GUARDED_BY(lane_mu) = false;
  bool lane_shut MCPD_GUARDED_BY(lane_mu) = false;  // close() was called: no call takes the lane again
  std::vector<std::shared_ptr<Member>> lane MCPD_GUARDED_BY(lane_mu);
  // What task_support() and the lane read from any thread: whether the server runs tools as
  // tasks (its capabilities, from the last session that opened) and each listed tool's
  // taskSupport (null until the tool list is first fetched).
  bool runs_tool_tasks MCPD_GUARDED_BY(lane_mu) = false;
  std::shared_ptr<const std::unordered_map<std::string, mcp::TaskSupport>> tool_modes MCPD_GUARDED_BY(lane_mu);

  // --- helpers (members.cpp) -----------------------------------------------------------------
  std::string server() const { return "server '" + opts.name + "'"; }
  Error shutting_down() const { return make_error(Errc::unavailable, server() + " is shutting down"); }
  void set_last_error(const std::string& e) {
    std::lock_guard lock(err_mu);
    last_error = e;
  }
  std::string get_last_error() const {
    std::lock_guard lock(err_mu);
    return last_error;
  }
  void refresh_stats();
  Error circuit_error() const;
  // True when calls should fail fast; moves open → half-open once the cool-down has passed.
  bool circuit_blocks();
  // Why a new call or tool listing is refused at once (closing, or the circuit is open), if it is.
  Status refusal();

  // --- sessions (members.cpp) ----------------------------------------------------------------
  // A seat on the node for one more session, or null when the node is full (nothing idle to evict).
  std::shared_ptr<NodeLimits::Seat> take_seat();
  Error node_full() const;
  // Starts a session holding `seat`; a local process waits for a start permit first.
  std::shared_ptr<Member> start_member(const std::string& session_id, std::shared_ptr<NodeLimits::Seat> seat);
  void open_member(const std::shared_ptr<Member>& m, std::shared_ptr<void> permit);
  // False when the node has no seat for it.
  bool add_shared_member();
  int live_members() const;
  void on_opened(const std::shared_ptr<Member>& m, const Result<mcp::ServerDescription>& r);
  void on_closed(const std::shared_ptr<Member>& m, const Error& e);
  // Marks a member dead and drops it from `members` / `isolated`, telling on_isolated_closed.
  void forget(const std::shared_ptr<Member>& m);
  // Closes a member on purpose (idle or evicted): not a failure.
  void retire(const std::shared_ptr<Member>& m);
  void schedule_restart(std::chrono::milliseconds delay);

  // --- the lane and slots (lane.cpp) ----------------------------------------------------------
  // Any thread: runs a plain tool call on a lane session with a free slot; false (and `p`
  // untouched) when the strand must decide.
  bool try_lane(Pending& p);
  // Rebuilds the lane from the pool's state (refresh_stats does, after every change).
  void update_lane();
  // Any thread: from now on, every call goes through the strand (which refuses it once closing).
  void shut_lane();
  // A slot on `m`, if it has one free (in_flight below max_inflight_per_session).
  bool claim(const std::shared_ptr<Member>& m);
  // The ready shared session with the fewest calls and a free slot, its slot claimed; or null.
  std::shared_ptr<Member> claim_least_loaded();
  // The session in `from` with the fewest calls and a free slot, among those `usable` accepts,
  // its slot claimed; or null.
  std::shared_ptr<Member> claim_fewest(const std::vector<std::shared_ptr<Member>>& from, bool (*usable)(const Member&))
      MCPD_REQUIRES(lane_mu);
  // Gives back a slot claimed for a call that then did not run.
  void release(const std::shared_ptr<Member>& m);
  // True if `m` has no call in flight; it is then out of the lane, so none can start on it
  // until the strand puts it back (before offering a session to the node or closing it).
  bool take_out_if_idle(const std::shared_ptr<Member>& m);
  // Runs a tool call on `m`, whose slot is claimed (any thread).
  void start_call(const std::shared_ptr<Member>& m, Pending p);

  // --- calls (dispatch.cpp) ------------------------------------------------------------------
  void fail_queue(const Error& e);
  void submit(Pending p);
  void refuse_unknown_tool(const Pending& p, const mcp::Tools& list);
  void check_tool(Pending p);
  void route(Pending p);
  void dispatch(Pending p);
  void grow();
  void pump();
  // Runs a call or request on `m`, whose slot is claimed.
  void run_on(const std::shared_ptr<Member>& m, Pending p);
  // A request other than tools/call (CallRequest::method) on `m`: its capability checked.
  void request_on(const std::shared_ptr<Member>& m, Pending p);
  // What ends a call or request on `m`: frees its slot, answers, then lets the pool move on.
  std::function<void(Result<Json>)> finisher(const std::shared_ptr<Member>& m, Pending p);

  // --- isolated sessions and the sweep (isolated.cpp) ----------------------------------------
  int queued() const { return static_cast<int>(queue.size()) + isolated_waiting; }
  Error queue_full() const;
  void route_isolated(Pending p);
  // Tells on_isolated_closed that `session_id` has no session here after all (refused).
  void refused_session(const std::string& session_id);
  void wait_on(const std::shared_ptr<Member>& m, Pending p);
  void fail_waiting(const std::shared_ptr<Member>& m, const Error& e);
  // Runs waiting calls while the member has free slots; then, idle, offers it to the node for
  // eviction (or retires it when the node already took its seat).
  void settle_isolated(const std::shared_ptr<Member>& m);
  bool evict_one_idle();
  // A shared session with nothing to do, above minSessions: offered to the node for eviction
  // (or closed, when the node already took its seat); the sweep closes it after idle_ttl.
  void settle_shared(const std::shared_ptr<Member>& m);
  // Offers an idle member's seat to the node (NodeLimits::offer_idle); if the node takes it, the
  // member closes as soon as it is idle.
  void offer_to_node(const std::shared_ptr<Member>& m);
  void ensure_sweep();
  void sweep();

  // --- tools (tools.cpp) ---------------------------------------------------------------------
  void set_tools(mcp::Tools t);
  void list_tools_on_strand(std::function<void(Result<mcp::Tools>)> done, bool refresh);
  void fetch_tools(bool refresh);
  void answer_tools(const Result<mcp::Tools>& r);

  // --- close (close.cpp) ---------------------------------------------------------------------
  void begin_close(std::function<void()> done, std::chrono::milliseconds drain);
  void maybe_finish_close();
  void stop_sessions();
  void finish_close();
};

}  // namespace mcpd::pool
