// EndpointTable: the node's NATS request subjects as a table, in the spirit of nats.go's
// micro.AddEndpoint. A subject family is registered once — its pattern, the schema its body
// must satisfy, the thread its handler runs on, and the handler — and the table does the rest
// for every request: routes it, refuses what matches nothing with a sentence a person can act
// on, bounds the body (size and JSON nesting), parses and validates it, runs the handler where
// it said, and counts requests, errors, the last error and processing time for $SRV.STATS.
// Adding a subject is one add() plus its handler.
//
// Every request is answered exactly once, through answer(); a handler that hands the request
// on (to a pool, to another node) keeps its ReplyTo and answers when the work completes.
//
// Thread-safe. dispatch() runs on NATS delivery threads and never blocks there.
#pragma once

#include "bus/message.hpp"
#include "common/error.hpp"
#include "common/json_limits.hpp"
#include "common/thread_annotations.hpp"
#include "io/blocking_pool.hpp"
#include "io/loop.hpp"
#include "node/discovery.hpp"
#include "node/replies.hpp"
#include "schema/schema.hpp"

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mcpd::node {

// Where a handler runs.
enum class RunsOn {
  delivery,  // on the NATS delivery thread if the body is small (parse + hand-off, a few µs),
             // else on the loop. Must not block.
  loop,      // on the event loop. Must not block.
  blocking,  // on the node's blocking pool: may wait on SQLite and JetStream.
};

// Which subscription a request arrived on.
enum class Via {
  queue,  // <prefix>.> in the queue group: callers and operators
  node,   // <prefix>.nodes.<this node>.>: calls forwarded by other nodes
};

// A request as the table sees it: views into bytes that `owner` keeps alive.
struct Inbound {
  std::string_view subject, reply, data;
  std::shared_ptr<const void> owner;
  const bus::Message* message = nullptr;  // from(): the message itself (for its headers)
  const bus::Headers* headers = nullptr;  // copy(): the headers given

  static Inbound from(bus::Message msg);
  // Owns copies of the strings (tests, and requests made up by the node itself).
  static Inbound copy(std::string subject, std::string reply, std::string data, bus::Headers headers = {});
  // The first value of header `key` (case-sensitive), if present. On one thread at a time.
  std::optional<std::string> header(std::string_view key) const;
};

// Where and when a request came in; what answer() needs. Cheap to copy.
struct ReplyTo {
  std::string subject;
  std::size_t endpoint = 0;  // index into the table's counters
  std::chrono::steady_clock::time_point start;
  nlohmann::json error_extra;  // members every error reply of this endpoint carries
  // A tool call of a server this node runs (set by execute once it found the server's pool):
  // what TableOptions::on_call is told when the call is answered.
  std::string server = {}, tool = {};
  std::string session = {}, trace_id = {};  // for the call's log line
};

inline constexpr std::string_view kTraceparentHeader = "traceparent";
inline constexpr std::string_view kTracestateHeader = "tracestate";

// W3C trace context (https://www.w3.org/TR/trace-context/) from a request's headers: kept only
// when well formed (traceparent "00-<32 hex>-<16 hex>-<2 hex>", tracestate printable ASCII of
// at most 512 bytes), so what reaches an MCP server or a log is never a caller's arbitrary text.
struct TraceContext {
  std::string traceparent, tracestate;

  static TraceContext of(const Inbound& in);
  // The trace id (the 32 hex digits), empty without a traceparent.
  std::string trace_id() const { return traceparent.size() == 55 ? traceparent.substr(3, 32) : std::string(); }
};

// What a handler gets: the body parsed and validated ({} for an empty body), the tokens the
// pattern's '*'s matched, and where to answer.
struct Request {
  nlohmann::json body;
  std::vector<std::string> captures;
  ReplyTo reply_to;
  Inbound inbound;  // the raw message (headers, subject)
};

// Runs on the thread its EndpointSpec::runs names; answers through EndpointTable::answer(),
// now or later from wherever the work completes.
using Handler = std::function<void(Request)>;

struct EndpointSpec {
  // Counted under this name in $SRV.STATS; endpoints that share a name share one counter.
  std::string name;
  // Tokens under the prefix; '*' matches one token and is captured: "*.execute",
  // "admin.servers.put", "nodes.node-1.*.execute".
  std::string pattern;
  // The subject $SRV.INFO shows for `name` (default: prefix + "." + pattern).
  std::string stats_subject;
  std::optional<schema::Payload> payload;  // the body's schema; none: the body is not read
  RunsOn runs = RunsOn::loop;
  Via via = Via::queue;
  nlohmann::json error_extra = nlohmann::json::object();  // e.g. {"tools": []} on list-tools errors
  Handler handler;
};

struct TableOptions {
  std::string prefix = "mcp";
  std::string queue_group = "mcpd";
  std::size_t max_request_bytes = 1u << 20;
  std::size_t inline_bytes = 64 * 1024;  // RunsOn::delivery: larger bodies go to the loop
  // The largest reply the bus accepts (NATS max_payload; <= 0: unknown). A larger reply is
  // answered with too_large instead, so the caller is never left waiting.
  std::function<std::int64_t()> reply_limit;
  // Bodies nested deeper are refused with invalid_request (common/json_limits.hpp).
  std::size_t json_max_depth = json::kDefaultMaxDepth;
  // Told of every answer to a tool call (a ReplyTo with a server), before it is sent; on the
  // answering thread, must not block (metrics).
  std::function<void(const ReplyTo& to, const Reply& reply)> on_call = nullptr;
};

class EndpointTable {
 public:
  // Sends a reply; the table has counted it already. Runs on whichever thread answers.
  using Sink = std::function<void(const std::string& reply_subject, const Reply& reply)>;

  EndpointTable(TableOptions options, io::Loop& loop, io::BlockingPool& blocking, Sink sink);

  // Registration happens before the first dispatch (not thread-safe with it).
  void add(EndpointSpec spec);
  // Requests matching `pattern` are answered invalid_request with `message` (e.g. a request
  // sent to an event subject); `via` as for endpoints.
  void refuse(std::string pattern, std::string message, Via via = Via::queue);
  // Messages matching `pattern` are not this subscription's to answer (another one serves them).
  void ignore(std::string pattern, Via via = Via::queue);

  // The policy stage: every request that routed to an endpoint and whose body validated passes
  // `gate` before its handler; a failed Status is the reply. Set before the first dispatch;
  // runs on the endpoint's thread and must not block.
  using Gate = std::function<Status(const EndpointSpec& endpoint, const Request& request)>;
  void set_gate(Gate gate) { gate_ = std::move(gate); }

  // On a NATS delivery thread: routes the message and returns at once. A plain publish (no
  // reply subject) is dropped: there is nobody to answer.
  void dispatch(Inbound in, Via via);

  // Answers a request: counts it (request, error and last error, processing time) and hands
  // the reply to the sink. Any thread; exactly once per request.
  void answer(const ReplyTo& to, const Reply& reply);
  // The request was handed to someone who answers the caller directly (another node): count
  // it as done here without sending anything.
  void handed_off(const ReplyTo& to);

  // For $SRV.STATS / INFO: one entry per endpoint name, in registration order.
  std::vector<EndpointStats> stats() const;
  // Requests received and not yet answered.
  int in_flight() const { return in_flight_.load(); }
  std::uint64_t requests() const { return requests_.load(); }
  std::uint64_t errors() const { return errors_.load(); }

  // What an unrouted subject gets told (exposed for tests).
  std::string unmatched_problem(std::string_view subject, Via via) const;

 private:
  struct Entry {
    enum class Kind { endpoint, refuse, ignore } kind = Kind::endpoint;
    std::vector<std::string> tokens;
    Via via = Via::queue;
    std::size_t counter = 0;
    std::string message;  // refuse
    EndpointSpec spec;    // endpoint
  };
  struct Counter {
    std::string name, subject;
    std::atomic<std::uint64_t> requests{0}, errors{0};
    std::atomic<std::int64_t> processing_ns{0};
    mutable Mutex mu;
    std::string last_error MCPD_GUARDED_BY(mu);
  };

  const Entry* match(const std::vector<std::string_view>& tokens, Via via, std::vector<std::string>& captures) const;
  void run(const Entry& entry, Request req);
  void refuse_now(const ReplyTo& to, Error error);
  // One request done on `to`'s endpoint: its count and processing time.
  Counter& count(const ReplyTo& to);

  TableOptions opts_;
  io::Loop& loop_;
  io::BlockingPool& blocking_;
  Sink sink_;
  Gate gate_;
  std::vector<Entry> entries_;
  std::vector<std::unique_ptr<Counter>> counters_;  // [0]: requests that matched no endpoint
  std::atomic<int> in_flight_{0};
  std::atomic<std::uint64_t> requests_{0}, errors_{0};
};

}  // namespace mcpd::node
