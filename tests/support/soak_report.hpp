// What a soak run (support/soak.hpp) counted, which of it the scenario explains, and the one
// table (or JSON) the benchmark prints and the test quotes when it fails.
#pragma once

#include "support/proc_stats.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

namespace mcpd::test::soak {

using Json = nlohmann::json;

enum class Mode { node, cluster };

// The kinds of call the callers make (soak.hpp says how often each).
enum Kind : int { shared_fast, shared_slow, isolated_fast, isolated_slow, crashy, hangs, noisy, kKinds };
inline constexpr std::array<const char*, kKinds> kKindNames = {"shared",  "shared/slow", "isolated", "isolated/slow",
                                                               "crashy",  "hangs",       "noisy"};
// Rows of calls that overlapped the nats-server restart carry this suffix.
inline const std::string kDuringRestart = " [restart]";

// Whether the scenario explains `outcome` for a call of `kind`. The reasons:
//  - ok: every kind but hangs, whose tool never answers.
//  - crashy unavailable: the call that makes the process exit and any other call on that session
//    at that moment lose their session ("server 'crashy' exited ..."). Calls arriving while it
//    restarts wait in the pool's queue and succeed.
//  - hangs timeout: timeout_ms passes; mcpd answers `timeout` and cancels the call.
//  - during the nats-server restart (cluster), a caller whose connection is to that server
//    cannot send (nats:not_connected) or loses the request it has in flight
//    (nats:disconnected); a reply routed through it is lost (nats:timeout); a caller back on it
//    before its routes carry mcpd's subscriptions again finds nobody (nats:no_responders); a
//    node cannot reach the key-value bucket or forward to a session's owner while it reconnects
//    and the bucket's leader moves (unavailable, timeout).
// Anything else (overloaded, internal, cancelled, a wrong result, ...) is not explained.
inline bool explained(Kind kind, const std::string& outcome, bool during_restart) {
  if (outcome == "ok") return kind != hangs;
  if (kind == crashy && outcome == "unavailable") return true;
  if (kind == hangs && outcome == "timeout") return true;
  if (during_restart)
    return outcome == "nats:not_connected" || outcome == "nats:disconnected" || outcome == "nats:timeout" ||
           outcome == "nats:no_responders" || outcome == "unavailable" || outcome == "timeout";
  return false;
}

struct Report {
  Mode mode = Mode::node;
  int callers = 0;
  double load_seconds = 0, warmup_seconds = 0;
  // Calls by outcome row ("ok", "timeout", "nats:timeout [restart]", ...), per kind.
  std::map<std::string, std::array<std::uint64_t, kKinds>> calls;
  std::map<std::string, std::string> first_message;  // "<kind> <row>": the first error message
  std::array<std::uint64_t, kKinds> ok_after_restart{};  // ok calls started after the restart window
  std::vector<ProcSample> start, warm, end;              // per node
  bool settled = false;        // every node back to its start counts of children and fds
  double settle_seconds = 0;   // how long after the load stopped (or until giving up)
  int survivors = 0;           // processes of the end sample still alive after the nodes stopped
  std::uint64_t crashy_restarts = 0;
  std::string restart;         // what was done to the nats-server, and when
  std::string logs;            // the tails of the nodes' logs, for failure messages

  static ProcSample sum(const std::vector<ProcSample>& v) {
    ProcSample s;
    for (const auto& x : v) s = s + x;
    return s;
  }
  std::uint64_t total(const std::string& row) const {
    std::uint64_t n = 0;
    if (auto it = calls.find(row); it != calls.end())
      for (auto c : it->second) n += c;
    return n;
  }
  std::uint64_t total_calls() const {
    std::uint64_t n = 0;
    for (const auto& [row, counts] : calls) n += total(row);
    return n;
  }
  std::uint64_t count(Kind k, const std::string& row) const {
    auto it = calls.find(row);
    return it == calls.end() ? 0 : it->second[k];
  }
  static bool restart_row(const std::string& row) {
    return row.size() > kDuringRestart.size() && row.ends_with(kDuringRestart);
  }
  static std::string outcome_of(const std::string& row) {
    return restart_row(row) ? row.substr(0, row.size() - kDuringRestart.size()) : row;
  }
  // "crashy: overloaded x 3 (first: ...)" for every count the scenario does not explain.
  std::vector<std::string> unexplained() const {
    std::vector<std::string> out;
    for (const auto& [row, counts] : calls)
      for (int k = 0; k < kKinds; ++k) {
        if (counts[k] == 0 || explained(Kind(k), outcome_of(row), restart_row(row))) continue;
        std::string line = std::string(kKindNames[k]) + ": " + row + " x " + std::to_string(counts[k]);
        if (auto m = first_message.find(std::string(kKindNames[k]) + " " + row); m != first_message.end())
          line += " (first: " + m->second + ")";
        out.push_back(line);
      }
    return out;
  }

  std::string table() const;
  Json json() const;
};

namespace detail {

inline std::string format(const char* fmt, auto... args) {
  char buf[512];
  std::snprintf(buf, sizeof buf, fmt, args...);
  return buf;
}
inline double mib(long kib) { return static_cast<double>(kib) / 1024.0; }

inline Json sample_json(const ProcSample& s) {
  return {{"rss_kib", s.rss_kib}, {"fds", s.fds}, {"children", s.children},
          {"zombies", s.zombies}, {"threads", s.threads}};
}

}  // namespace detail

inline std::string Report::table() const {
  using detail::format;
  const int nodes = static_cast<int>(start.size());
  const std::uint64_t n = total_calls();
  const double rate = load_seconds > 0 ? static_cast<double>(n) / load_seconds : 0.0;
  std::string out = format("mcpd soak, %s mode: %d callers for %.0f s (warm-up %.0f s), %llu calls (%.0f/s)\n",
                           mode == Mode::node ? "node" : "cluster", callers, load_seconds, warmup_seconds,
                           static_cast<unsigned long long>(n), rate);
  if (!restart.empty()) out += restart + "\n";
  out += "\n";
  std::vector<int> width;
  out += format("%-32s", "calls by outcome");
  for (const char* k : kKindNames) {
    width.push_back(std::max<int>(8, static_cast<int>(std::string(k).size()) + 2));
    out += format("%*s", width.back(), k);
  }
  out += format("%9s\n", "total");
  // ok first, then the other codes, then the same for calls during the restart.
  std::vector<std::string> rows;
  for (bool during : {false, true}) {
    const std::string ok = during ? "ok" + kDuringRestart : "ok";
    if (calls.count(ok)) rows.push_back(ok);
    for (const auto& [row, counts] : calls)
      if (row != ok && restart_row(row) == during) rows.push_back(row);
  }
  for (const auto& row : rows) {
    const auto& counts = calls.at(row);
    bool odd = false;
    for (int k = 0; k < kKinds; ++k)
      odd = odd || (counts[k] > 0 && !explained(Kind(k), outcome_of(row), restart_row(row)));
    out += format("%-32s", (row + (odd ? " (!)" : "")).c_str());
    for (int k = 0; k < kKinds; ++k) out += format("%*llu", width[k], static_cast<unsigned long long>(counts[k]));
    out += format("%9llu\n", static_cast<unsigned long long>(total(row)));
  }
  out += std::string(32 + 9, '-');
  for (int w : width) out += std::string(static_cast<std::size_t>(w), '-');
  out += "\n";
  const auto s0 = sum(start), s1 = sum(warm), s2 = sum(end);
  out += format("%-32s%10s%10s%10s%15s\n", nodes > 1 ? "mcpd (sum of 3 nodes)" : "mcpd", "start", "warm-up", "end",
                "since warm-up");
  out += format("%-32s%10.1f%10.1f%10.1f%+15.1f\n", "RSS MiB", detail::mib(s0.rss_kib), detail::mib(s1.rss_kib),
                detail::mib(s2.rss_kib), detail::mib(s2.rss_kib - s1.rss_kib));
  out += format("%-32s%10d%10d%10d%+15d\n", "open fds", s0.fds, s1.fds, s2.fds, s2.fds - s1.fds);
  out += format("%-32s%10d%10d%10d%+15d\n", "child processes", s0.children, s1.children, s2.children,
                s2.children - s1.children);
  out += format("%-32s%10d%10d%10d%+15d\n", "threads", s0.threads, s1.threads, s2.threads, s2.threads - s1.threads);
  if (nodes > 1)
    for (int i = 0; i < nodes; ++i)
      out += format("  node-%d: RSS %.1f / %.1f / %.1f MiB, fds %d / %d / %d, children %d / %d / %d\n", i + 1,
                    detail::mib(start[i].rss_kib), detail::mib(warm[i].rss_kib), detail::mib(end[i].rss_kib),
                    start[i].fds, warm[i].fds, end[i].fds, start[i].children, warm[i].children, end[i].children);
  out += "\n";
  out += format("crashy restarts %llu; ", static_cast<unsigned long long>(crashy_restarts));
  out += settled ? format("back to the start counts %.1f s after the load stopped; ", settle_seconds)
                 : format("NOT back to the start counts %.1f s after the load stopped; ", settle_seconds);
  out += format("%d processes outlived their node; ", survivors);
  auto odd = unexplained();
  out += odd.empty() ? std::string("unexplained outcomes: none\n") : format("unexplained outcomes: %zu\n", odd.size());
  for (const auto& line : odd) out += "  " + line + "\n";
  if (!odd.empty()) out += "(!): a row with calls the scenario does not explain (soak::explained)\n";
  return out;
}

inline Json Report::json() const {
  Json j = {{"mode", mode == Mode::node ? "node" : "cluster"},
            {"callers", callers},
            {"load_seconds", load_seconds},
            {"warmup_seconds", warmup_seconds},
            {"calls", Json::object()},
            {"ok_after_restart", Json::object()},
            {"start", Json::array()},
            {"warm_up", Json::array()},
            {"end", Json::array()},
            {"settled", settled},
            {"settle_seconds", settle_seconds},
            {"survivors", survivors},
            {"crashy_restarts", crashy_restarts},
            {"restart", restart},
            {"unexplained", unexplained()},
            {"first_messages", first_message}};
  for (const auto& [row, counts] : calls)
    for (int k = 0; k < kKinds; ++k)
      if (counts[k] > 0) j["calls"][row][kKindNames[k]] = counts[k];
  if (!restart.empty())
    for (int k = 0; k < kKinds; ++k) j["ok_after_restart"][kKindNames[k]] = ok_after_restart[k];
  for (const auto& s : start) j["start"].push_back(detail::sample_json(s));
  for (const auto& s : warm) j["warm_up"].push_back(detail::sample_json(s));
  for (const auto& s : end) j["end"].push_back(detail::sample_json(s));
  return j;
}

}  // namespace mcpd::test::soak
