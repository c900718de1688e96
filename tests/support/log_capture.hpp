// LogCapture: while it lives, spdlog's default logger writes into a ring of the last 512 lines,
// which a test searches for what the code under test logged. Install it before that code logs.
#pragma once

#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

namespace mcpd::test {

class LogCapture {
 public:
  LogCapture() : previous_(spdlog::default_logger()) {
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", ring_));
  }
  ~LogCapture() { spdlog::set_default_logger(previous_); }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  // The captured lines that contain `needle`.
  std::vector<std::string> matching(const std::string& needle) const {
    std::vector<std::string> out;
    for (auto& l : ring_->last_formatted())
      if (l.find(needle) != std::string::npos) out.push_back(l);
    return out;
  }
  int count(const std::string& needle) const { return static_cast<int>(matching(needle).size()); }

 private:
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> ring_ = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(512);
  std::shared_ptr<spdlog::logger> previous_;
};

}  // namespace mcpd::test
