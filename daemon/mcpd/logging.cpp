#include "logging.hpp"

#include "common/log_fields.hpp"
#include "common/text.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <ctime>
#include <stdexcept>

namespace mcpd::daemon {
namespace {

// A leading "[name] " (or "[name#N] ", about session N) of a message, when name could be a
// server's (the convention of every line about one server): that server, and the rest.
std::pair<std::string_view, std::string_view> split_server(std::string_view msg) {
  if (msg.size() < 4 || msg.front() != '[') return {{}, msg};
  const auto close = msg.find("] ");
  if (close == std::string_view::npos || close < 2 || close > 64) return {{}, msg};
  auto name = msg.substr(1, close - 1);
  // "[fake#2] ...": a line about one of the server's sessions; the message keeps which one.
  bool session = false;
  if (auto hash = name.find('#'); hash != std::string_view::npos && hash > 0 &&
                                  name.find_first_not_of("0123456789", hash + 1) == std::string_view::npos) {
    name = name.substr(0, hash);
    session = true;
  }
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_')) return {{}, msg};
  return {name, session ? msg : msg.substr(close + 2)};
}

// One JSON object per line: ts, level, node, msg, and the line's fields (LogScope) — server
// also from a "[server] " prefix. Always valid JSON and UTF-8 (common/text.hpp).
class JsonFormatter final : public spdlog::formatter {
 public:
  explicit JsonFormatter(std::string node_id) : node_id_(std::move(node_id)) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    auto put = [&](std::string_view s) { dest.append(s.data(), s.data() + s.size()); };
    auto member = [&](std::string_view key, std::string_view value) {
      if (value.empty()) return;
      put(",\"");
      put(key);
      put("\":\"");
      append_json_escaped(dest, value);
      put("\"");
    };
    const auto t = msg.time.time_since_epoch();
    const auto secs = std::chrono::duration_cast<std::chrono::seconds>(t);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t - secs).count();
    const std::time_t tt = secs.count();
    std::tm tm{};
    ::gmtime_r(&tt, &tm);
    char ts[40];
    const int n = std::snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
    put("{\"ts\":\"");
    put(std::string_view(ts, static_cast<std::size_t>(n)));
    put("\",\"level\":\"");
    const auto level = spdlog::level::to_string_view(msg.level);
    put(std::string_view(level.data(), level.size()));
    put("\"");
    member("node", node_id_);
    const LogFields* f = current_log_fields();
    auto [prefix_server, text] = split_server(std::string_view(msg.payload.data(), msg.payload.size()));
    const std::string_view server = f && !f->server.empty() ? f->server : prefix_server;
    if (server.empty()) text = std::string_view(msg.payload.data(), msg.payload.size());
    put(",\"msg\":\"");
    append_json_escaped(dest, text);
    put("\"");
    member("server", server);
    if (f) {
      for_each_text_field(*f, member);
      if (f->duration_ms >= 0) {
        char d[32];
        const int k = std::snprintf(d, sizeof d, ",\"duration_ms\":%.3f", f->duration_ms);
        put(std::string_view(d, static_cast<std::size_t>(k)));
      }
    }
    put("}\n");
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonFormatter>(node_id_); }

 private:
  std::string node_id_;
};

// %& in the text pattern: the line's fields (LogScope) as " key=value", nothing without.
class TextFields final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg&, const std::tm&, spdlog::memory_buf_t& dest) override {
    const LogFields* f = current_log_fields();
    if (!f) return;
    auto field = [&](std::string_view key, std::string_view value) {
      if (value.empty()) return;
      dest.push_back(' ');
      dest.append(key.data(), key.data() + key.size());
      dest.push_back('=');
      dest.append(value.data(), value.data() + value.size());
    };
    for_each_text_field(*f, field);
    if (f->duration_ms >= 0) {
      char d[32];
      const int k = std::snprintf(d, sizeof d, " duration_ms=%.3f", f->duration_ms);
      dest.append(d, d + k);
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<TextFields>(); }
};

}  // namespace

void setup_logging(const std::string& level, const std::string& format, const std::string& node_id) {
  auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off")
    throw std::invalid_argument("unknown log level '" + level + "' (trace, debug, info, warn, error, critical, off)");
  if (format != "text" && format != "json") throw std::invalid_argument("unknown log format '" + format + "' (text, json)");
  auto logger = std::make_shared<spdlog::logger>("mcpd", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  if (format == "json") {
    logger->set_formatter(std::make_unique<JsonFormatter>(node_id));
  } else {
    auto f = std::make_unique<spdlog::pattern_formatter>();
    f->add_flag<TextFields>('&').set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ %v%&");
    logger->set_formatter(std::move(f));
  }
  logger->set_level(lvl);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

}  // namespace mcpd::daemon
