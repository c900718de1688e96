// A JSON-RPC 2.0 peer over any line-oriented channel: allocates request ids, keeps the
// in-flight map, enforces a deadline per request, routes responses by id, dispatches incoming
// requests and notifications to handlers, and drops late or unknown responses.
//
// The peer knows nothing of the channel: it is given a send function and fed each incoming
// line with receive(). Its state lives on one strand, except the requests in flight (under a
// mutex): request() and notify() may be called from any thread and send at once, from that
// thread. Callbacks run on the strand and must not block.
//
// An incoming message nested deeper than a bound (common/json_limits.hpp) is dropped as
// malformed, and if it answers a request of ours, that request fails with too_large.
#pragma once

#include "common/error.hpp"
#include "common/json_limits.hpp"
#include "common/log_budget.hpp"
#include "common/thread_annotations.hpp"
#include "io/loop.hpp"

#include <nlohmann/json_fwd.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

namespace mcpd::jsonrpc {

using Json = nlohmann::json;
using Duration = std::chrono::milliseconds;
using RequestId = std::int64_t;

// Standard JSON-RPC error codes.
inline constexpr int kParseError = -32700;
inline constexpr int kInvalidRequest = -32600;
inline constexpr int kMethodNotFound = -32601;
inline constexpr int kInvalidParams = -32602;
inline constexpr int kInternalError = -32603;
// An error response whose `data` holds this member was made on our side by a transport that
// could not reach the server (HTTP failure, broken stream): the request fails as unavailable.
inline constexpr const char* kTransportErrorMember = "transport";
// ...with {"tooLarge": true} beside it: the answer was over the server's maxMessageBytes (the
// transports' too_large_response, transport/oversized.hpp): the call fails with too_large.
inline constexpr const char* kTooLargeMember = "tooLarge";

struct PeerStats {
  std::uint64_t malformed_lines = 0;   // lines that were not a JSON-RPC message
  std::uint64_t late_responses = 0;    // responses to ids no longer in flight (timed out, cancelled)
  std::uint64_t requests_sent = 0;
  std::uint64_t in_flight = 0;
};

class Peer : public std::enable_shared_from_this<Peer> {
 public:
  // Sends one serialized message (no trailing newline). Returns false if it cannot be sent.
  using SendFn = std::function<bool(std::string)>;
  // Completes a request: the `result` member, or an Error (remote errors carry rpc_code).
  using ResponseCallback = std::function<void(Result<Json>)>;
  // Answers an incoming request. A returned Error becomes a JSON-RPC error response with its
  // rpc_code (kInternalError when 0).
  using RequestHandler = std::function<Result<Json>(const Json& params)>;
  // Answers an incoming request later: `respond` may be called once, from any thread (a
  // request never answered is simply left open; the other side's deadline deals with it).
  using Respond = std::function<void(Result<Json>)>;
  using AsyncRequestHandler = std::function<void(const Json& params, Respond respond)>;
  using NotificationHandler = std::function<void(const Json& params)>;
  // Told when a request of ours timed out, so a protocol layer can notify the other side.
  using TimeoutHook = std::function<void(RequestId id, const std::string& method)>;

  // `max_json_depth` bounds the nesting of every incoming message (json_limits.hpp).
  // `send_alone`, if given, sends a request that is the only one in flight: the channel may
  // write it at once from the calling thread, where `send` may batch it with others.
  static std::shared_ptr<Peer> create(io::Strand strand, std::string name, SendFn send,
                                      std::size_t max_json_depth = json::kDefaultMaxDepth, SendFn send_alone = {});
  ~Peer();

  // Sends a request; `done` is called exactly once: with the result, a remote error, a
  // timeout, or the reason the peer closed. A timeout of zero or less means no deadline.
  // `params` may be null to omit the member. Returns the id used on the wire.
  RequestId request(std::string method, Json params, Duration timeout, ResponseCallback done);
  // Sends a notification (fire and forget).
  void notify(std::string method, Json params);
  // Fails an in-flight request now with `reason`; a response arriving later is dropped.
  // Returns immediately; nothing happens if the request already completed.
  void cancel(RequestId id, Error reason);

  // Handlers are installed before the first receive(); they run on the strand.
  void on_request(std::string method, RequestHandler handler);
  void on_request_async(std::string method, AsyncRequestHandler handler);
  void on_notification(std::string method, NotificationHandler handler);
  void on_timeout(TimeoutHook hook);

  // Feeds one incoming line. Must be called on the strand.
  void receive(std::string_view line);
  // Fails every in-flight request with `reason` and refuses new ones. Any thread.
  void close(Error reason);

  PeerStats stats() const;
  const std::string& name() const { return name_; }
  const io::Strand& strand() const { return strand_; }

 private:
  struct Pending;
  Peer(io::Strand strand, std::string name, SendFn send, std::size_t max_json_depth, SendFn send_alone);
  void start_request(RequestId id, std::string method, std::string wire, Duration timeout,
                     ResponseCallback done);
  void complete(RequestId id, Result<Json> outcome);
  void handle_response(Json& msg);
  void handle_request(Json& msg);
  void reply(const Json& id, Result<Json> outcome);
  // A message nested too deep (its deep parts pruned): a response fails its request.
  void refuse_too_deep(const Json& msg, std::string_view line);
  // Counts a line that is not a message; logs it within malformed_log_'s budget.
  void note_malformed(std::string_view what, std::string_view line);

  io::Strand strand_;
  std::string name_;
  SendFn send_;
  SendFn send_alone_;
  const std::size_t max_json_depth_;
  std::atomic<RequestId> next_id_{1};
  // The requests in flight: added by request() on any thread, completed on the strand.
  Mutex pending_mu_;
  std::atomic<bool> closed_{false};  // set under pending_mu_: no request is added after it
  Error close_reason_ MCPD_GUARDED_BY(pending_mu_);  // valid once closed_ is set
  std::unordered_map<RequestId, std::unique_ptr<Pending>> pending_ MCPD_GUARDED_BY(pending_mu_);
  std::unordered_map<std::string, AsyncRequestHandler> request_handlers_;
  std::unordered_map<std::string, NotificationHandler> notification_handlers_;
  TimeoutHook timeout_hook_;
  LogBudget malformed_log_;  // strand only: a server printing garbage must not flood the log
  std::atomic<std::uint64_t> malformed_{0}, late_{0}, sent_{0}, in_flight_{0};
};

}  // namespace mcpd::jsonrpc
