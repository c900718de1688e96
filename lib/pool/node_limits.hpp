// NodeLimits: what every SessionPool of one node shares, so that no server, and no burst of
// new session_ids, can take the whole node.
//
//  - Seats: at most `max_sessions` live MCP sessions across all servers (shared and isolated,
//    starting or ready). A pool takes a seat before it starts a session and gives it back when
//    the session is gone. When none is free, the least recently used idle isolated session of
//    any server is evicted and its seat handed over at once; with none idle, the new session is
//    refused (the pool answers `overloaded`).
//  - Processes: at most `max_live_processes` of those sessions run a local process (stdio):
//    the same way, a new one takes the place of the least recently used idle session that runs
//    a process, of any server (an idle shared session above its server's minSessions counts),
//    and with none idle it is refused. A node with many servers used now and then keeps at most
//    this many processes, however many servers it has.
//  - Starts: at most `max_concurrent_starts` local processes starting at once (from spawn to the
//    end of `initialize`). Starting a hundred Node.js servers at once on two CPUs makes every one
//    of them wait for all the others; started a few at a time, most are ready much sooner.
//
// Thread-safe: pools on different strands call in at any time. Callbacks given here (grants,
// evictions) run on whichever thread frees the permit or seat, never under NodeLimits' lock,
// and must only post to their pool's strand.
#pragma once

#include "common/thread_annotations.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace mcpd::pool {

// Twice the CPUs: enough to keep them busy while some starts wait on I/O.
inline int default_max_concurrent_starts() {
  return 2 * static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

struct NodeLimitsOptions {
  int max_sessions = 2048;                                         // live sessions, all servers; 0: no limit
  int max_concurrent_starts = default_max_concurrent_starts();  // local process starts at once; 0: no limit
  int max_live_processes = 1024;                                   // of the live sessions, those with a local process; 0: no limit
};

class NodeLimits : public std::enable_shared_from_this<NodeLimits> {
 public:
  using Clock = std::chrono::steady_clock;
  // Idle sessions are ordered by this: idle since, then a sequence number.
  using IdleKey = std::pair<Clock::time_point, std::uint64_t>;

  static std::shared_ptr<NodeLimits> create(NodeLimitsOptions options);
  // Everything a pool of its own would need: no limit at all (tests, tools).
  static std::shared_ptr<NodeLimits> unlimited();

  // A live session's place in the count; given back when the last reference goes.
  class Seat {
   public:
    ~Seat();
    Seat(const Seat&) = delete;
    Seat& operator=(const Seat&) = delete;

   private:
    friend class NodeLimits;
    explicit Seat(std::weak_ptr<NodeLimits> owner) : owner_(std::move(owner)) {}
    std::weak_ptr<NodeLimits> owner_;
    bool process_ = false;      // its session runs a local process (counts in max_live_processes)
    bool handed_over_ = false;  // evicted: its place now belongs to another session (under owner's mu_)
    std::optional<IdleKey> idle_;  // its entry among the idle sessions, while it is idle (same)
  };

  // A seat for a new session (`process`: one that runs a local process), or null when the node
  // is full and nothing idle can be evicted; then `refused_by`, if given, names the limit.
  std::shared_ptr<Seat> take_seat(bool process = false, std::string* refused_by = nullptr) MCPD_EXCLUDES(mu_);
  // The session holding `seat` is idle since `since` and may be evicted for another: `evict`
  // asks its pool to close it (the seat already belongs to someone else then). Replaces an
  // earlier offer of the same seat.
  void offer_idle(const std::shared_ptr<Seat>& seat, Clock::time_point since, std::function<void()> evict)
      MCPD_EXCLUDES(mu_);
  // The session is busy (or closing) again: it may no longer be evicted.
  void withdraw_idle(const std::shared_ptr<Seat>& seat) MCPD_EXCLUDES(mu_);

  // A permit to start a local process, held until the session is ready or failed. `granted`
  // runs at once when one is free, else later, on the thread that returns one; a permit that
  // is no longer wanted when granted must be returned (release_start) all the same.
  void wait_for_start(std::function<void()> granted) MCPD_EXCLUDES(mu_);
  void release_start() MCPD_EXCLUDES(mu_);

  struct Stats {
    int sessions = 0;         // seats taken
    int processes = 0;        // of them, sessions with a local process
    int idle = 0;             // of them, idle and offered for eviction
    int starting = 0;         // start permits in use
    int waiting_to_start = 0;
    std::uint64_t evictions = 0;  // idle sessions evicted to make room on the node
    std::uint64_t refusals = 0;   // new sessions refused: the node was full and nothing idle
  };
  Stats stats() const MCPD_EXCLUDES(mu_);
  const NodeLimitsOptions& options() const { return opts_; }

 private:
  explicit NodeLimits(NodeLimitsOptions options) : opts_(options) {}
  void give_back(Seat& seat) MCPD_EXCLUDES(mu_);
  void forget_idle(Seat& seat) MCPD_REQUIRES(mu_);

  struct Idle {
    std::weak_ptr<Seat> seat;
    std::function<void()> evict;
  };
  const NodeLimitsOptions opts_;
  mutable Mutex mu_;
  int sessions_ MCPD_GUARDED_BY(mu_) = 0;
  int processes_ MCPD_GUARDED_BY(mu_) = 0;
  int starting_ MCPD_GUARDED_BY(mu_) = 0;
  std::uint64_t next_idle_id_ MCPD_GUARDED_BY(mu_) = 1;
  std::map<IdleKey, Idle> idle_ MCPD_GUARDED_BY(mu_);  // least recently used first
  std::deque<std::function<void()>> start_queue_ MCPD_GUARDED_BY(mu_);
  std::uint64_t evictions_ MCPD_GUARDED_BY(mu_) = 0, refusals_ MCPD_GUARDED_BY(mu_) = 0;
};

}  // namespace mcpd::pool
