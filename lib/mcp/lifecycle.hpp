// How a session is opened, in whichever era the server speaks. The handshake era (2024-11-05 …
// 2025-11-25) opens with initialize → notifications/initialized; the stateless era (2026-07-28
// on) has no handshake: server/discover says what the server speaks, and every later request
// carries the revision in params._meta (stateless_era.hpp). The dual-era lifecycle probes with
// server/discover and falls back to initialize, as the 2026-07-28 revision tells a client that
// speaks both eras to do.
#pragma once

#include "common/error.hpp"
#include "jsonrpc/peer.hpp"

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace mcpd::mcp {

using Json = nlohmann::json;

// What the server told us about itself when the session opened.
struct ServerDescription {
  std::string protocol_version;          // a stateless revision (is_stateless_protocol_version) or a handshake one
  Json server_info = Json::object();    // {name, version, title?}
  Json capabilities = Json::object();
  std::string instructions;
};

class Lifecycle {
 public:
  virtual ~Lifecycle() = default;
  // Opens the session on `peer`; `done` runs on the peer's strand.
  virtual void open(jsonrpc::Peer& peer, std::chrono::milliseconds timeout,
                    std::function<void(Result<ServerDescription>)> done) = 0;
};

// initialize (asking for our newest revision) → accept any revision we support →
// notifications/initialized. An unsupported answer fails the open.
std::unique_ptr<Lifecycle> make_initialize_handshake();

// Which era a server turned out to speak, remembered by every session of one server config so
// that only the first pays for finding out (the spec lets a client keep the answer for the
// server's configuration). Any thread.
class EraMemo {
 public:
  enum class Era { unknown, stateless, handshake };
  Era get() const { return era_.load(std::memory_order_relaxed); }
  void set(Era era) { era_.store(era, std::memory_order_relaxed); }

 private:
  std::atomic<Era> era_{Era::unknown};
};

struct DualEraOptions {
  // How long server/discover may go unanswered before the server counts as one of the handshake
  // era that ignores unknown requests (never longer than the open timeout). Servers that answer
  // with an error fall back at once.
  std::chrono::milliseconds probe_timeout{5000};
  std::shared_ptr<EraMemo> memo;  // null: every open probes
};

// server/discover in our newest stateless revision → a DiscoverResult opens the session in that
// revision; any error (or no answer within probe_timeout) → the initialize handshake. With a
// memo that says handshake, initialize goes first (no probe); a failed open forgets the memo.
std::unique_ptr<Lifecycle> make_dual_era_lifecycle(DualEraOptions options = {});

}  // namespace mcpd::mcp
