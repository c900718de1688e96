#include "workload.hpp"

#include <algorithm>
#include <stdexcept>

namespace mcpd::bench {
namespace {

constexpr std::size_t kMaxErrorSamples = 5;

// Replaces the marker in every string of `v` (recursively) with `payload`.
void substitute(Json& v, const std::string& payload) {
  if (v.is_string()) {
    auto& s = v.get_ref<std::string&>();
    for (auto at = s.find(kPayloadMarker); at != std::string::npos; at = s.find(kPayloadMarker, at + payload.size()))
      s.replace(at, kPayloadMarker.size(), payload);
  } else if (v.is_structured()) {
    for (auto& child : v) substitute(child, payload);
  }
}

std::vector<std::string> split_at_marker(const std::string& text) {
  std::vector<std::string> pieces;
  std::size_t from = 0;
  for (auto at = text.find(kPayloadMarker); at != std::string::npos; at = text.find(kPayloadMarker, from)) {
    pieces.push_back(text.substr(from, at - from));
    from = at + kPayloadMarker.size();
  }
  pieces.push_back(text.substr(from));
  return pieces;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

double percentile_us(const std::vector<std::int64_t>& sorted_ns, double q) {
  if (sorted_ns.empty()) return 0;
  auto rank = static_cast<std::size_t>(q * static_cast<double>(sorted_ns.size() - 1) + 0.5);
  return static_cast<double>(sorted_ns[std::min(rank, sorted_ns.size() - 1)]) / 1000.0;
}

}  // namespace

Workload::Workload(std::string tool, const Json& args_template, std::size_t payload_bytes)
    : tool_(std::move(tool)), template_(args_template), payload_bytes_(payload_bytes) {
  if (!template_.is_object()) throw std::invalid_argument("--args must be a JSON object");
  // Payloads are '#', digits, ':' and 'x': nothing JSON would escape, so the dumped template
  // can be spliced around them verbatim.
  pieces_ = split_at_marker(template_.dump());
  has_marker_ = pieces_.size() > 1;
}

std::string Workload::payload(std::uint64_t seq) const {
  std::string p = "#" + std::to_string(seq) + ":";
  if (p.size() < payload_bytes_) p.append(payload_bytes_ - p.size(), 'x');
  return p;
}

Json Workload::arguments(std::uint64_t seq) const {
  Json args = template_;
  if (has_marker_) substitute(args, payload(seq));
  return args;
}

std::string Workload::request_line(std::int64_t id, std::uint64_t seq) const {
  const std::string p = has_marker_ ? payload(seq) : std::string();
  std::string line = R"({"jsonrpc":"2.0","id":)" + std::to_string(id) +
                     R"(,"method":"tools/call","params":{"name":)" + Json(tool_).dump() + R"(,"arguments":)";
  line.reserve(line.size() + pieces_.size() * p.size() + 64);
  for (std::size_t i = 0; i < pieces_.size(); ++i) {
    if (i > 0) line += p;
    line += pieces_[i];
  }
  line += "}}\n";
  return line;
}

Verdict Workload::check(const Json& result, std::uint64_t seq) const {
  if (!result.is_object()) return Verdict::mismatch;
  if (auto e = result.find("isError"); e != result.end() && e->is_boolean() && e->get<bool>()) return Verdict::error;
  if (!has_marker_) return Verdict::ok;
  const std::string expected = payload(seq);
  auto content = result.find("content");
  if (content == result.end() || !content->is_array()) return Verdict::mismatch;
  for (const auto& item : *content) {
    auto text = item.find("text");
    if (text != item.end() && text->is_string() && ends_with(text->get_ref<const std::string&>(), expected))
      return Verdict::ok;
  }
  return Verdict::mismatch;
}

// Keeps the first few distinct messages: a thousand copies of one error say no more than one.
void Recorder::note(std::string message) {
  if (samples_.size() >= kMaxErrorSamples) return;
  if (std::find(samples_.begin(), samples_.end(), message) == samples_.end()) samples_.push_back(std::move(message));
}

void Recorder::error(Clock::duration latency, std::string message) {
  ok(latency);
  ++errors_;
  note(std::move(message));
}

void Recorder::error(std::string message) {
  ++errors_;
  note(std::move(message));
}

void Recorder::mismatch(Clock::duration latency, std::string message) {
  ok(latency);
  ++mismatches_;
  note(std::move(message));
}

Measurement Recorder::finish(std::string mode, int concurrency, Clock::duration elapsed) {
  Measurement m;
  m.mode = std::move(mode);
  m.concurrency = concurrency;
  m.completed = latencies_ns_.size();
  m.errors = errors_;
  m.mismatches = mismatches_;
  m.error_samples = samples_;
  m.seconds = std::chrono::duration<double>(elapsed).count();
  m.calls_per_s = m.seconds > 0 ? static_cast<double>(m.completed) / m.seconds : 0;
  std::sort(latencies_ns_.begin(), latencies_ns_.end());
  m.p50_us = percentile_us(latencies_ns_, 0.50);
  m.p99_us = percentile_us(latencies_ns_, 0.99);
  m.max_us = latencies_ns_.empty() ? 0 : static_cast<double>(latencies_ns_.back()) / 1000.0;
  double sum = 0;
  for (auto ns : latencies_ns_) sum += static_cast<double>(ns);
  m.mean_us = latencies_ns_.empty() ? 0 : sum / static_cast<double>(latencies_ns_.size()) / 1000.0;
  return m;
}

}  // namespace mcpd::bench
