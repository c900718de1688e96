// The event loop every pipe, child exit and timer in mcpd runs on: one asio::io_context
// driven by a small, fixed set of threads (one by default). Objects that keep state serialise
// themselves on a strand, so the loop can run on more than one thread without locks around
// that state.
//
// The rule: a handler on the loop must not block. No SQLite, no NATS request or JetStream
// round trip, no sleep, no waiting on a future: one such handler stalls every pipe, child exit
// and timer of every server on the node. Blocking work goes to an io::BlockingPool.
#pragma once

#include <asio/io_context.hpp>
#include <asio/strand.hpp>

#include <optional>
#include <thread>
#include <vector>

namespace mcpd::io {

using Executor = asio::io_context::executor_type;
using Strand = asio::strand<Executor>;

class Loop {
 public:
  // Starts `threads` threads running the loop at once; they run until stop() or destruction.
  explicit Loop(unsigned threads = 1);
  ~Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  asio::io_context& context() { return ctx_; }
  Strand make_strand() { return asio::make_strand(ctx_); }

  // Stops the loop and joins its threads. Handlers still queued are dropped; call it only
  // after everything that runs on the loop has been closed. Must not run on a loop thread.
  void stop();

  bool running_in_this_thread() const;

 private:
  asio::io_context ctx_;
  std::optional<asio::executor_work_guard<Executor>> guard_;
  std::vector<std::thread> threads_;
};

}  // namespace mcpd::io
