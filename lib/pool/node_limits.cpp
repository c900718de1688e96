#include "pool/node_limits.hpp"

#include <utility>

namespace mcpd::pool {

std::shared_ptr<NodeLimits> NodeLimits::create(NodeLimitsOptions options) {
  return std::shared_ptr<NodeLimits>(new NodeLimits(options));
}

std::shared_ptr<NodeLimits> NodeLimits::unlimited() {
  NodeLimitsOptions none;
  none.max_sessions = 0;
  none.max_concurrent_starts = 0;
  none.max_live_processes = 0;
  return create(none);
}

NodeLimits::Seat::~Seat() {
  if (auto owner = owner_.lock()) owner->give_back(*this);
}

void NodeLimits::forget_idle(Seat& seat) {
  if (seat.idle_) idle_.erase(*std::exchange(seat.idle_, std::nullopt));
}

void NodeLimits::give_back(Seat& seat) {
  MutexLock lock(mu_);
  forget_idle(seat);
  if (seat.handed_over_) return;  // its place (and count) went to another session
  --sessions_;
  if (seat.process_) --processes_;
}

std::shared_ptr<NodeLimits::Seat> NodeLimits::take_seat(bool process, std::string* refused_by) {
  auto seat = [&] {
    auto s = std::shared_ptr<Seat>(new Seat(weak_from_this()));
    s->process_ = process;
    return s;
  };
  std::function<void()> evict;
  {
    MutexLock lock(mu_);
    const bool sessions_full = opts_.max_sessions > 0 && sessions_ >= opts_.max_sessions;
    const bool processes_full = process && opts_.max_live_processes > 0 && processes_ >= opts_.max_live_processes;
    if (!sessions_full && !processes_full) {
      ++sessions_;
      if (process) ++processes_;
      return seat();
    }
    // Full: the least recently used idle session gives its place up (one with a process, when
    // processes are what is full). An entry whose seat is being destroyed right now is skipped
    // (its place is about to come back anyway).
    for (auto it = idle_.begin(); it != idle_.end();) {
      auto victim = it->second.seat.lock();
      if (!victim) {
        it = idle_.erase(it);
        continue;
      }
      if (processes_full && !victim->process_) {
        ++it;
        continue;
      }
      evict = std::move(it->second.evict);
      idle_.erase(it);
      victim->idle_.reset();
      victim->handed_over_ = true;
      // The victim's place is the new session's: the session count stays, the process count
      // follows what the new session is.
      if (victim->process_) --processes_;
      if (process) ++processes_;
      ++evictions_;
      break;
    }
    if (!evict) {
      ++refusals_;
      if (refused_by) *refused_by = processes_full ? "max_live_processes" : "max_sessions";
      return nullptr;
    }
  }
  evict();  // outside the lock: it posts to the victim's pool
  return seat();
}

void NodeLimits::offer_idle(const std::shared_ptr<Seat>& seat, Clock::time_point since, std::function<void()> evict) {
  if (!seat) return;
  MutexLock lock(mu_);
  if (seat->handed_over_) return;  // already chosen for eviction
  forget_idle(*seat);
  seat->idle_ = IdleKey{since, next_idle_id_++};
  idle_.emplace(*seat->idle_, Idle{seat, std::move(evict)});
}

void NodeLimits::withdraw_idle(const std::shared_ptr<Seat>& seat) {
  if (!seat) return;
  MutexLock lock(mu_);
  forget_idle(*seat);
}

void NodeLimits::wait_for_start(std::function<void()> granted) {
  {
    MutexLock lock(mu_);
    if (opts_.max_concurrent_starts > 0 && starting_ >= opts_.max_concurrent_starts) {
      start_queue_.push_back(std::move(granted));
      return;
    }
    ++starting_;
  }
  granted();
}

void NodeLimits::release_start() {
  std::function<void()> next;
  {
    MutexLock lock(mu_);
    if (start_queue_.empty()) {
      --starting_;
      return;
    }
    // The permit passes straight to the next in line.
    next = std::move(start_queue_.front());
    start_queue_.pop_front();
  }
  next();
}

NodeLimits::Stats NodeLimits::stats() const {
  MutexLock lock(mu_);
  return Stats{sessions_, processes_, static_cast<int>(idle_.size()), starting_,
               static_cast<int>(start_queue_.size()), evictions_, refusals_};
}

}  // namespace mcpd::pool
