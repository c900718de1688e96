// SessionPool's public methods: each hands its work to the pool's strand, where the pool's
// state lives (pool_impl.hpp), except a tool call the lane takes on the caller's thread
// (lane.cpp); stats() reads counters kept for any thread.
#include "pool/session_pool.hpp"
#include "pool/pool_impl.hpp"

#include <asio/post.hpp>

namespace mcpd::pool {

std::shared_ptr<SessionPool> SessionPool::create(io::Loop& loop, PoolOptions options, SessionFactory factory) {
  auto pool = std::shared_ptr<SessionPool>(new SessionPool());
  pool->impl_ = std::make_shared<Impl>(loop, std::move(options), std::move(factory));
  return pool;
}

SessionPool::~SessionPool() {
  // Sessions not closed by close() stop with their transports (which kill their processes).
  if (impl_) impl_->shut_lane();
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
  if (impl_->try_lane(p)) return;  // a session with a free slot took it on this thread
  asio::post(impl_->strand, [impl = impl_, p = std::move(p)]() mutable { impl->submit(std::move(p)); });
}

void SessionPool::list_tools(std::function<void(Result<mcp::Tools>)> done, bool refresh) {
  asio::post(impl_->strand, [impl = impl_, done = std::move(done), refresh]() mutable {
    if (auto e = impl->refusal(); !e.ok()) {
      done(e.error());
      return;
    }
    impl->list_tools_on_strand(std::move(done), refresh);
  });
}

void SessionPool::close(std::function<void()> done, std::optional<std::chrono::milliseconds> drain) {
  auto d = drain.value_or(impl_->opts.drain_timeout);
  impl_->shut_lane();  // a call made after close() is refused, as the strand will refuse it
  asio::post(impl_->strand, [impl = impl_, done = std::move(done), d]() mutable { impl->begin_close(std::move(done), d); });
}

std::optional<mcp::TaskSupport> SessionPool::task_support(const std::string& tool) const {
  MutexLock lock(impl_->lane_mu);
  if (!impl_->tool_modes) return std::nullopt;
  if (!impl_->runs_tool_tasks) return mcp::TaskSupport::forbidden;
  auto it = impl_->tool_modes->find(tool);
  return it == impl_->tool_modes->end() ? mcp::TaskSupport::forbidden : it->second;
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
  s.tool_list_fetches = impl_->st_tool_fetches;
  s.circuit = impl_->st_circuit;
  s.last_error = impl_->get_last_error();
  return s;
}

const PoolOptions& SessionPool::options() const { return impl_->opts; }
const std::string& SessionPool::name() const { return impl_->opts.name; }

}  // namespace mcpd::pool
