// Opening and closing a ClientSession from a benchmark's own thread, each bounded, so a server
// that hangs fails the benchmark instead of hanging it.
#pragma once

#include "mcp/client_session.hpp"

#include <chrono>
#include <future>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>

namespace mcpd::bench {

// Starts `session` and waits (40 s at most) until it is open; throws "<what>: ..." otherwise.
inline void open_or_throw(mcp::ClientSession& session, const std::string& what) {
  // Shared, not on the stack: if the open hangs we throw, and a late callback must not touch a
  // promise that is gone.
  auto ready = std::make_shared<std::promise<Result<mcp::ServerDescription>>>();
  auto opened = ready->get_future();
  session.start([ready](Result<mcp::ServerDescription> r) { ready->set_value(std::move(r)); });
  if (opened.wait_for(std::chrono::seconds(40)) != std::future_status::ready)
    throw std::runtime_error(what + ": the session did not open within 40 s");
  if (auto r = opened.get(); !r.ok()) throw std::runtime_error(what + ": " + r.error().message);
}

// Closes `session`, waiting 10 s at most (a warning on stderr if that was not enough).
inline void close_within_10s(mcp::ClientSession& session, const std::string& what) {
  auto closed = std::make_shared<std::promise<void>>();
  session.close([closed] { closed->set_value(); });
  if (closed->get_future().wait_for(std::chrono::seconds(10)) != std::future_status::ready)
    std::cerr << "warning: " << what << ": the session did not close within 10 s\n";
}

}  // namespace mcpd::bench
