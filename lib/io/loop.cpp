#include "io/loop.hpp"

#include <spdlog/spdlog.h>

#include <exception>

namespace mcpd::io {

Loop::Loop(unsigned threads) : guard_(asio::make_work_guard(ctx_)) {
  if (threads == 0) threads = 1;
  threads_.reserve(threads);
  for (unsigned i = 0; i < threads; ++i) {
    threads_.emplace_back([this] {
      // A handler that throws is a bug; log it and keep the loop alive for everyone else.
      for (;;) {
        try {
          ctx_.run();
          return;
        } catch (const std::exception& e) {
          spdlog::error("event loop: unhandled exception in a handler: {}", e.what());
        }
      }
    });
  }
}

Loop::~Loop() { stop(); }

void Loop::stop() {
  guard_.reset();
  ctx_.stop();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

bool Loop::running_in_this_thread() const {
  for (const auto& t : threads_) {
    if (t.get_id() == std::this_thread::get_id()) return true;
  }
  return false;
}

}  // namespace mcpd::io
