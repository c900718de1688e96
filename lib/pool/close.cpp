// SessionPool close: refuse new calls, let in-flight and queued calls finish up to the drain
// timeout, then stop every session and tell the close() callers once all have stopped.
#include "pool/pool_impl.hpp"

#include <asio/post.hpp>
#include <spdlog/spdlog.h>

namespace mcpd::pool {

void SessionPool::Impl::begin_close(std::function<void()> done, std::chrono::milliseconds drain) {
  if (done) close_waiters.push_back(std::move(done));
  if (closed) {
    finish_close();
    return;
  }
  if (closing) return;
  closing = true;
  update_lane();  // closed before in-flight calls are counted: the lane starts none after this
  restart_timer.cancel();
  answer_tools(shutting_down());
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

void SessionPool::Impl::maybe_finish_close() {
  if (!closing || closing_sessions > 0 || closed) return;
  bool waiting = st_in_flight.load() > 0 || !queue.empty();
  for (auto& [id, m] : isolated) waiting = waiting || !m->waiting.empty();
  if (!waiting) stop_sessions();
}

void SessionPool::Impl::stop_sessions() {
  if (closed || closing_sessions > 0) return;
  drain_timer.cancel();
  sweep_timer.cancel();
  fail_queue(shutting_down());
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
    fail_waiting(m, shutting_down());
    m->seat.reset();
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

void SessionPool::Impl::finish_close() {
  spdlog::info("[{}] pool closed", opts.name);
  for (auto& w : take(close_waiters)) w();
}

}  // namespace mcpd::pool
