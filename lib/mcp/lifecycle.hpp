// How a session is opened. The legacy revisions (2025-03-26 … 2025-11-25) use the
// initialize handshake; the 2026-07-28 revision replaces it with server/discover and
// per-request _meta. Keeping the opening behind this interface lets a dual-era client be an
// addition (try discover, fall back to initialize) rather than a rewrite of ClientSession.
#pragma once

#include "common/error.hpp"
#include "jsonrpc/peer.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace mcpd::mcp {

using Json = nlohmann::json;

// What the server told us about itself when the session opened.
struct ServerDescription {
  std::string protocol_version;
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

}  // namespace mcpd::mcp
