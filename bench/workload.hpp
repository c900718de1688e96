// What every benchmarked call sends and how its reply is checked, shared by the raw-pipe client
// and the ClientSession run so both measure exactly the same exchange; plus the latency
// bookkeeping both report with.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace mcpd::bench {

using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// The placeholder in the --args template replaced by each call's unique payload.
inline constexpr std::string_view kPayloadMarker = "{payload}";

enum class Verdict { ok, error, mismatch };

class Workload {
 public:
  // `args_template` is a JSON object; string values containing kPayloadMarker get the payload.
  Workload(std::string tool, const Json& args_template, std::size_t payload_bytes);

  const std::string& tool() const { return tool_; }
  bool verifies_payload() const { return has_marker_; }

  // A payload unique to `seq`, exactly payload_bytes long (or longer when the number needs it),
  // so a reply carrying another call's text cannot pass the check.
  std::string payload(std::uint64_t seq) const;
  // The `arguments` object of call `seq`.
  Json arguments(std::uint64_t seq) const;
  // One complete tools/call request line (with '\n') for the raw pipe: built by concatenation,
  // no JSON library on the request path, because the raw client is the floor.
  std::string request_line(std::int64_t id, std::uint64_t seq) const;
  // Checks a CallToolResult against call `seq`: not isError and, when the arguments carry the
  // payload, some text content ends with it (servers may prefix, e.g. "Echo: ").
  Verdict check(const Json& call_tool_result, std::uint64_t seq) const;

 private:
  std::string tool_;
  Json template_;
  std::vector<std::string> pieces_;  // the dumped template split at each marker
  bool has_marker_ = false;
  std::size_t payload_bytes_;
};

// The outcome of one measurement (one mode at one concurrency).
struct Measurement {
  std::string mode;            // "raw" or "session"
  int concurrency = 0;
  std::size_t completed = 0;   // calls that got any answer (ok, error or mismatch)
  std::size_t errors = 0;      // transport/JSON-RPC errors, isError, timeouts, stalls
  std::size_t mismatches = 0;  // answered, but not with this call's payload
  double seconds = 0;
  double calls_per_s = 0;
  double p50_us = 0, p99_us = 0, max_us = 0, mean_us = 0;
  double cpu_us_per_call = 0;  // this process's CPU time (user + system) per answered call
  std::vector<std::string> error_samples;  // the first few error messages, for the report
};

// How long one measurement runs: `calls` calls with `concurrency` of them in flight, stopping
// early at `deadline`.
struct RunSpec {
  int concurrency = 1;
  std::size_t calls = 0;
  Clock::time_point deadline;
};

// Collects per-call latencies and outcomes of one run; turns them into a Measurement.
class Recorder {
 public:
  explicit Recorder(std::size_t expected) { latencies_ns_.reserve(expected); }
  void ok(Clock::duration latency) {
    latencies_ns_.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(latency).count());
  }
  void error(Clock::duration latency, std::string message);
  // An error that is no answer to any call (a stray line, a call never answered).
  void error(std::string message);
  void mismatch(Clock::duration latency, std::string message);
  std::size_t completed() const { return latencies_ns_.size(); }
  Measurement finish(std::string mode, int concurrency, Clock::duration elapsed);

 private:
  void note(std::string message);
  std::vector<std::int64_t> latencies_ns_;
  std::size_t errors_ = 0, mismatches_ = 0;
  std::vector<std::string> samples_;
};

}  // namespace mcpd::bench
