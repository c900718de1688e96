// ClientSession: one live MCP client session over a Transport. Opens the session (version
// negotiation), lists tools (all pages, cached, refreshed on list_changed), calls tools with a
// per-call deadline (cancelling on the server when it passes), routes progress to the caller,
// pings an idle server, and answers the server's own requests. Many calls may be in flight at
// once; nothing holds a lock across a round trip.
//
// Thread-safety: every public method may be called from any thread. Callbacks run on the
// transport's strand and must not block.
#pragma once

#include "common/error.hpp"
#include "common/json_limits.hpp"
#include "mcp/lifecycle.hpp"
#include "transport/transport.hpp"

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace mcpd::mcp {

struct SessionOptions {
  std::string name;                                      // the server's name, for logs and errors
  std::chrono::milliseconds open_timeout{30000};         // initialize must answer within this
  std::chrono::milliseconds request_timeout{30000};      // default deadline of every request
  std::chrono::milliseconds ping_interval{0};            // 0: no keep-alive pings
  std::chrono::milliseconds ping_timeout{10000};
  std::size_t json_max_depth = json::kDefaultMaxDepth;   // deeper messages from the server are refused
};

struct CallOptions {
  std::chrono::milliseconds timeout{0};                  // 0: the session's request_timeout
  // Called with each notifications/progress params object for this call.
  std::function<void(const Json& progress)> on_progress;
  // Not null: sent as params.task (a task-augmented call, MCP 2025-11-25): the server answers
  // with {"task": {...}} at once and runs the tool as a task of its own.
  Json task = nullptr;
  // An object: its members go into params._meta (e.g. W3C traceparent and tracestate).
  Json meta = nullptr;
};

// A request the server sends us on behalf of one of its tasks (params._meta
// "io.modelcontextprotocol/related-task"), e.g. an elicitation/create while the task is
// input_required. The handler answers through `respond`, now or later, from any thread.
using RelatedRequestHandler =
    std::function<void(const std::string& method, const Json& params, std::function<void(Result<Json>)> respond)>;

using Tools = std::shared_ptr<const std::vector<Json>>;
using CallId = std::int64_t;

enum class SessionState { created, opening, ready, closed };

class ClientSession : public std::enable_shared_from_this<ClientSession> {
 public:
  // The default lifecycle speaks both eras (lifecycle.hpp): server/discover, else initialize.
  static std::shared_ptr<ClientSession> create(std::shared_ptr<transport::Transport> transport,
                                               SessionOptions options,
                                               std::unique_ptr<Lifecycle> lifecycle = make_dual_era_lifecycle());
  ~ClientSession();

  // Starts the transport and opens the session. `ready` runs once: with the server's
  // description, or with why it could not open (the session is then closed).
  void start(std::function<void(Result<ServerDescription>)> ready);

  // Every tool of the server, following nextCursor to the end. Served from the cache unless
  // `refresh` is set or the server said its list changed. May complete before returning.
  void list_tools(std::function<void(Result<Tools>)> done, bool refresh = false);
  // The cached list, if any (no round trip).
  Tools cached_tools() const;

  // Calls a tool; `done` gets the whole CallToolResult (isError included: deciding what it
  // means is the caller's business) or an Error: timeout, cancelled, unavailable, or the
  // server's JSON-RPC error (rpc_code set). Returns an id for cancel_call().
  CallId call_tool(std::string tool, Json arguments, CallOptions options, std::function<void(Result<Json>)> done);
  // Cancels a call: the caller's callback gets `cancelled`, the server gets notifications/cancelled.
  void cancel_call(CallId id, std::string reason = "cancelled by the caller");

  // ping; server/discover toward a server of the stateless era, which has no ping.
  void ping(std::function<void(Result<Json>)> done);

  // Any other request to the server (tasks/get, tasks/result, tasks/cancel): the `result`
  // member, or an Error (remote errors carry rpc_code). A timeout of 0: request_timeout.
  void request(std::string method, Json params, std::chrono::milliseconds timeout, std::function<void(Result<Json>)> done);

  // Requests the server makes for its task `task_id` go to `handler` until forget_related().
  // Any other elicitation/create is declined (nobody to ask); sampling and roots are refused
  // -32601 (not offered).
  void on_related_request(const std::string& task_id, RelatedRequestHandler handler);
  // The server's notifications/tasks/status for its task `task_id` (the full Task object) go to
  // `handler` until forget_related(). Told on the session's strand.
  void on_task_status(const std::string& task_id, std::function<void(const Json&)> handler);
  void forget_related(const std::string& task_id);

  // Closes the session and stops the transport (process group and all); `done` runs once
  // everything is stopped. In-flight calls fail with `cancelled`.
  void close(std::function<void()> done = {});

  // Told once when the session closes for any reason (after start), with the reason.
  void on_closed(std::function<void(const Error&)> handler);
  // Told when the server's tool list changed and the cache was refreshed.
  void on_tools_changed(std::function<void(Tools)> handler);

  SessionState state() const { return state_.load(); }
  bool ready() const { return state() == SessionState::ready; }
  // Valid once ready.
  const ServerDescription& server() const { return server_; }
  // The server speaks a stateless revision (2026-07-28 on): every request carries the _meta
  // envelope and results are read by stateless_era.hpp. Valid once ready.
  bool stateless() const { return stateless_.load(); }
  const std::string& name() const { return opts_.name; }
  std::size_t in_flight() const { return in_flight_.load(); }
  std::shared_ptr<transport::Transport> transport() const { return transport_; }
  // How many non-JSON lines the server wrote on its message channel.
  std::uint64_t malformed_messages() const;

 private:
  ClientSession(std::shared_ptr<transport::Transport> transport, SessionOptions options,
                std::unique_ptr<Lifecycle> lifecycle);
  void install_handlers();
  void on_transport_closed(const transport::Closed& closed);
  void fetch_tools_page(std::string cursor, std::shared_ptr<std::vector<Json>> acc, int pages);
  void finish_tools_fetch(Result<Tools> result);
  void fail(Error reason);
  void schedule_ping();
  std::chrono::milliseconds effective(std::chrono::milliseconds t) const;
  // Every request after the open goes through here: in the stateless era it gets the envelope
  // and its answer is settled (resultType, input_required).
  CallId send(std::string method, Json params, std::chrono::milliseconds timeout,
              std::function<void(Result<Json>)> done);

  std::shared_ptr<transport::Transport> transport_;
  std::shared_ptr<jsonrpc::Peer> peer_;
  SessionOptions opts_;
  std::unique_ptr<Lifecycle> lifecycle_;
  ServerDescription server_;
  std::atomic<SessionState> state_{SessionState::created};
  std::atomic<bool> stateless_{false};
  std::atomic<std::size_t> in_flight_{0};
  std::atomic<std::int64_t> last_activity_ns_{0};
  std::function<void(Result<ServerDescription>)> ready_cb_;  // strand only
  std::function<void(const Error&)> closed_cb_;
  std::function<void(Tools)> tools_changed_cb_;
  Error close_reason_;                                        // strand only

  mutable std::mutex mu_;                                     // guards the members below
  Tools tools_;
  bool tools_stale_ = true;
  bool tools_fetching_ = false;
  std::vector<std::function<void(Result<Tools>)>> tools_waiters_;
  std::unordered_map<std::string, std::function<void(const Json&)>> progress_;
  std::unordered_map<std::string, RelatedRequestHandler> related_;  // by the server's task id
  std::unordered_map<std::string, std::function<void(const Json&)>> task_status_;  // by the server's task id
  std::uint64_t tools_generation_ = 0;                        // bumped by list_changed
  std::atomic<std::uint64_t> next_token_{1};
  struct PingTimer;
  std::unique_ptr<PingTimer> ping_timer_;                     // strand only
};

}  // namespace mcpd::mcp
