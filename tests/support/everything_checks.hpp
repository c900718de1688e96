// Checks of the reference server-everything's answers, shared by its stdio (npm) and HTTP
// tests so that both transports are held to the same expectations: the tiny image arrives
// intact, concurrent echoes each reach their own caller, and the progress notifications of a
// long-running operation reach the caller.
#pragma once

#include "mcp/client_session.hpp"
#include "mcp/protocol.hpp"
#include "support/test_support.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

namespace mcpd::test {

// get-tiny-image answered with a PNG image, its base64 intact.
inline void check_tiny_image(const Result<mcp::Json>& image) {
  REQUIRE(image.ok());
  bool found = false;
  for (const auto& c : image.value()["content"]) {
    if (c["type"] != "image") continue;
    found = true;
    CHECK(c["mimeType"] == "image/png");
    const std::string data = c["data"].get<std::string>();
    CHECK(data.rfind("iVBORw0KGgo", 0) == 0);  // base64 of the PNG signature
    CHECK(data.size() > 1000);
    CHECK(data.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") ==
          std::string::npos);
  }
  CHECK(found);
}

// `calls` echo calls in flight at once on `s`: each answer is matched to its own caller.
inline void check_concurrent_echoes(mcp::ClientSession& s, int calls, std::chrono::milliseconds wait) {
  std::vector<Slot<Result<mcp::Json>>> slots(calls);
  for (int i = 0; i < calls; ++i)
    s.call_tool("echo", {{"message", "caller-" + std::to_string(i)}}, {}, slots[i].callback());
  for (int i = 0; i < calls; ++i) {
    auto r = slots[i].get(wait);
    REQUIRE(r.ok());
    CHECK(mcp::result_text(r.value()) == "Echo: caller-" + std::to_string(i));
  }
}

struct Progressed {
  Result<mcp::Json> result;
  int progress;  // notifications/progress that reached the caller before the result
};

// trigger-long-running-operation called with `args`.
inline Progressed long_running_operation(mcp::ClientSession& s, mcp::Json args) {
  // Shared with the callback, which the session may hold on to after the call ends.
  auto progress = std::make_shared<std::atomic<int>>(0);
  mcp::CallOptions o;
  o.on_progress = [progress](const mcp::Json&) { ++*progress; };
  Slot<Result<mcp::Json>> r;
  s.call_tool("trigger-long-running-operation", std::move(args), std::move(o), r.callback());
  auto result = r.get(30s);
  return {std::move(result), progress->load()};
}

}  // namespace mcpd::test
