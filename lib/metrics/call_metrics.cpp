#include "metrics/call_metrics.hpp"

#include <algorithm>

namespace mcpd::metrics {

void Histogram::observe(double seconds) {
  auto it = std::lower_bound(kLatencyBounds.begin(), kLatencyBounds.end(), seconds);
  if (it != kLatencyBounds.end()) ++counts[static_cast<std::size_t>(it - kLatencyBounds.begin())];
  ++count;
  sum += seconds;
}

void Histogram::write(Exposition& out, std::string_view name, std::span<const Label> labels) const {
  out.histogram(name, labels, kLatencyBounds, counts, count, sum);
}

void CallMetrics::record(std::string_view server, std::string_view tool, std::string_view code,
                         std::chrono::nanoseconds took) {
  const double seconds = std::chrono::duration<double>(took).count();
  MutexLock lock(mu_);
  auto s = servers_.find(server);
  if (s == servers_.end()) s = servers_.emplace(std::string(server), Server{}).first;
  auto t = s->second.tools.find(tool);
  if (t == s->second.tools.end()) {
    if (tool_series_ >= max_tool_series_) tool = kOther;
    t = s->second.tools.find(tool);
    if (t == s->second.tools.end()) {
      t = s->second.tools.emplace(std::string(tool), Tool{}).first;
      ++tool_series_;
    }
  }
  s->second.latency.observe(seconds);
  t->second.latency.observe(seconds);
  auto c = t->second.by_code.find(code);
  if (c == t->second.by_code.end()) c = t->second.by_code.emplace(std::string(code), 0).first;
  ++c->second;
}

void CallMetrics::forget(std::string_view server) {
  MutexLock lock(mu_);
  auto s = servers_.find(server);
  if (s == servers_.end()) return;
  tool_series_ -= s->second.tools.size();
  servers_.erase(s);
}

void CallMetrics::retain(const std::function<bool(std::string_view)>& keep) {
  MutexLock lock(mu_);
  for (auto it = servers_.begin(); it != servers_.end();) {
    if (keep(it->first)) {
      ++it;
      continue;
    }
    tool_series_ -= it->second.tools.size();
    it = servers_.erase(it);
  }
}

void CallMetrics::write(Exposition& out) const {
  MutexLock lock(mu_);
  out.family("mcpd_calls_total", Exposition::Type::counter,
             "Tool calls answered by this node, by server, tool and outcome code (ok or the error code).");
  for (const auto& [server, s] : servers_)
    for (const auto& [tool, t] : s.tools)
      for (const auto& [code, n] : t.by_code) {
        const Label labels[] = {{"server", server}, {"tool", tool}, {"code", code}};
        out.sample("mcpd_calls_total", labels, n);
      }
  out.family("mcpd_call_duration_seconds", Exposition::Type::histogram,
             "Time from a tool call's arrival to its answer, per server.");
  for (const auto& [server, s] : servers_) {
    const Label labels[] = {{"server", server}};
    s.latency.write(out, "mcpd_call_duration_seconds", labels);
  }
  out.family("mcpd_tool_call_duration_seconds", Exposition::Type::histogram,
             "Time from a tool call's arrival to its answer, per server and tool.");
  for (const auto& [server, s] : servers_)
    for (const auto& [tool, t] : s.tools) {
      const Label labels[] = {{"server", server}, {"tool", tool}};
      t.latency.write(out, "mcpd_tool_call_duration_seconds", labels);
    }
}

}  // namespace mcpd::metrics
