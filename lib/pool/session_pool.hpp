// SessionPool: every MCP session mcpd keeps for one server.
//
//  - Shared sessions: `min_sessions` started eagerly, grown up to `max_sessions` under load;
//    each call goes to the least-loaded ready session with a free slot (at most
//    `max_inflight_per_session` each), else waits in a bounded queue, else is refused at once
//    with `overloaded`.
//  - Isolated sessions (isolate_by_session_id): a call with a session_id gets an MCP session
//    (for stdio: a process) of its own, kept until idle for `idle_ttl`; at most
//    `max_isolated_sessions`, the least-recently-used idle one evicted first. Each takes at most
//    `max_inflight_per_session` calls at once like a shared one; calls waiting for it (to start,
//    or for a free slot) count against `max_queue`.
//  - Node limits (node_limits.hpp): every session takes a seat of the node's `max_sessions`
//    (the node evicts an idle isolated session of any server to make room, else the new
//    session is refused with `overloaded`), and a local process waits for a start permit.
//  - Health: sessions ping their server; a session that dies is restarted with exponential
//    backoff and jitter; after repeated failures the circuit opens and calls fail with
//    `unavailable` at once, naming the last error; after a cool-down one attempt is let through.
//  - Tools: one list per server, cached, refreshed when a session reports list_changed; a call
//    to a tool not on the list is `unknown_tool` (after listing again once, in case it changed).
//  - Close: new calls are refused, in-flight and queued calls finish up to `drain_timeout`,
//    then every session (and process) is stopped.
//
// Thread-safety: every public method may be called from any thread; completion callbacks run on
// the pool's strand or a session's strand and must not block.
#pragma once

#include "common/error.hpp"
#include "io/loop.hpp"
#include "mcp/client_session.hpp"
#include "mcp/protocol.hpp"
#include "pool/backoff.hpp"
#include "pool/node_limits.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace mcpd::pool {

using Json = nlohmann::json;

struct PoolOptions {
  std::string name;                                   // the server's name
  int min_sessions = 1;
  int max_sessions = 4;
  int max_inflight_per_session = 32;
  int max_queue = 256;
  bool isolate_by_session_id = true;                  // isolation "session" (else "shared")
  int max_isolated_sessions = 32;
  std::chrono::milliseconds idle_ttl{300'000};
  std::chrono::milliseconds call_timeout{30'000};     // default deadline of a call
  std::chrono::milliseconds drain_timeout{10'000};    // close(): how long in-flight calls may take
  // A call to a tool not in the cached list asks the server for its list again at most once per
  // this interval (a server that announces list changes is asked at once): unknown tools cannot
  // make a node hammer a remote server with tools/list.
  std::chrono::milliseconds tool_refresh_interval{5'000};
  BackoffPolicy backoff;
  // Shared by every pool of the node: the cap on live sessions, the start permits. Null: the
  // pool has no node-wide limits (a pool on its own, in tests and tools).
  std::shared_ptr<NodeLimits> limits;
  bool limit_starts = true;  // its sessions start local processes: each start takes a permit
  // Told (on the pool's strand; must not block) when an isolated session ends for any reason
  // (idle, evicted, crashed or closed), and when a call for a session_id that has no session
  // here is refused (nothing was started for it). Cluster affinity releases the ownership.
  std::function<void(const std::string& session_id)> on_isolated_closed;
};

// Makes a new, not yet started session for this server; `label` names it in logs
// ("everything#2", "everything@sess-42"). Called on the pool's strand; must not block.
using SessionFactory = std::function<std::shared_ptr<mcp::ClientSession>(const std::string& label)>;

// Cancels one call (pool::CallRequest::cancel): a call still waiting for a session fails with
// `cancelled` when its turn comes; one running on a session fails at once and its server is
// sent notifications/cancelled. Thread-safe; cancelling twice or after the end does nothing.
class CallCancel {
 public:
  void cancel(const std::string& reason) {
    std::function<void(const std::string&)> hook;
    {
      std::lock_guard lock(mu_);
      if (cancelled_) return;
      cancelled_ = true;
      reason_ = reason;
      hook = std::move(hook_);
    }
    if (hook) hook(reason);
  }
  bool cancelled() const {
    std::lock_guard lock(mu_);
    return cancelled_;
  }
  std::string reason() const {
    std::lock_guard lock(mu_);
    return reason_;
  }
  // The pool: how to cancel the call now that it runs (called at once if already cancelled).
  void arm(std::function<void(const std::string&)> hook) {
    std::string reason;
    {
      std::lock_guard lock(mu_);
      if (!cancelled_) {
        hook_ = std::move(hook);
        return;
      }
      reason = reason_;
    }
    hook(reason);
  }

 private:
  mutable std::mutex mu_;
  bool cancelled_ = false;
  std::string reason_;
  std::function<void(const std::string&)> hook_;
};

struct CallRequest {
  std::string tool;
  Json arguments = Json::object();
  std::optional<std::string> session_id;              // routes to an isolated session
  std::chrono::milliseconds timeout{0};               // 0: the pool's call_timeout
  std::function<void(const Json& progress)> on_progress;  // on a session's strand; must not block
  bool session_reset = false;                         // the caller knows the session's state is gone
  Json task = nullptr;                                // not null: a task-augmented call (params.task)
  std::shared_ptr<CallCancel> cancel = nullptr;       // optional: lets the caller cancel it
  Json meta = nullptr;                                // an object: members for params._meta (trace context)
  // Not a tool call but another request to the server (resources/read, prompts/get,
  // completion/complete, ...): `method` with `params` (`tool` and `arguments` are unused, the
  // tool list is not consulted). It runs on a shared session like a call, and fails with
  // invalid_request, without reaching the server, when the session's server does not declare
  // `capability` (e.g. "resources"; empty: no check). `result` is the request's whole result.
  std::string method = {};
  Json params = Json::object();
  std::string capability = {};

  // "call to 'echo'" or "resources/read request": how messages about it name it.
  std::string what() const { return method.empty() ? "call to '" + tool + "'" : method + " request"; }
};

struct CallResult {
  Json result;                  // the whole CallToolResult, untouched (isError included)
  bool session_reset = false;   // the isolated session for this session_id was lost and started anew
  // The session that ran the call: a task the server created lives there (polled on it).
  std::shared_ptr<mcp::ClientSession> session = nullptr;
};

struct PoolStats {
  int sessions_ready = 0;       // shared sessions able to take calls
  int sessions_starting = 0;
  int isolated_sessions = 0;
  int in_flight = 0;
  int queued = 0;
  std::uint64_t calls = 0;
  std::uint64_t restarts = 0;
  std::uint64_t tool_list_fetches = 0;  // tools/list requests sent to the server
  CircuitState circuit = CircuitState::closed;
  std::string last_error;       // why the last session failed, with the server's last stderr line
};

class SessionPool : public std::enable_shared_from_this<SessionPool> {
 public:
  static std::shared_ptr<SessionPool> create(io::Loop& loop, PoolOptions options, SessionFactory factory);
  ~SessionPool();

  // Starts the eager sessions. Calls may be made at once; they wait for a session.
  void start();
  // Runs a tool call; `done` runs exactly once.
  void call(CallRequest request, std::function<void(Result<CallResult>)> done);
  // The server's tools (all pages), from the cache when fresh.
  void list_tools(std::function<void(Result<mcp::Tools>)> done, bool refresh = false);
  // Stops taking calls, lets in-flight ones finish (up to `drain`, by default the pool's
  // drain_timeout; calls still running then fail with `cancelled`), stops every session.
  void close(std::function<void()> done = {}, std::optional<std::chrono::milliseconds> drain = std::nullopt);

  // How the server wants `tool` run: as a task or not (mcp::TaskSupport; forbidden unless the
  // server declares tasks for tools/call). nullopt until the tool list is known. Any thread.
  std::optional<mcp::TaskSupport> task_support(const std::string& tool) const;

  PoolStats stats() const;
  const PoolOptions& options() const;
  const std::string& name() const;

 private:
  SessionPool() = default;
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace mcpd::pool
