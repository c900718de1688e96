// Helpers for mcpd's tests: where the fixtures and the pinned npm servers live, waiting on a
// condition with a deadline (never sleeping as synchronisation), and turning callbacks into
// values a test can assert on.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

namespace mcpd::test {

using namespace std::chrono_literals;

inline std::string fake_server_path() { return MCPD_FAKE_SERVER; }

// The pinned npm MCP server binary `bin` (e.g. "mcp-server-everything"). Fails loudly if the
// npm packages were not installed: the README's test command installs them.
inline std::string npm_bin(const std::string& bin) {
  std::filesystem::path p = std::filesystem::path(MCPD_NODE_MODULES) / ".bin" / bin;
  if (!std::filesystem::exists(p))
    throw std::runtime_error(p.string() + " is missing: run `npm ci --prefix tests` (scripts/test.sh does)");
  return p.string();
}

// Polls `pred` until it holds or `timeout` passes; returns whether it held.
inline bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout = 10s,
                       std::chrono::milliseconds every = 10ms) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(every);
  }
  return pred();
}

// A one-shot slot a callback fills and a test waits on.
template <typename T>
class Slot {
 public:
  Slot() : state_(std::make_shared<State>()) { future_ = state_->promise.get_future(); }
  // The callback to hand to an async API.
  std::function<void(T)> callback() {
    return [s = state_](T v) {
      if (!s->set.exchange(true)) s->promise.set_value(std::move(v));
    };
  }
  // Waits for the value; throws if it does not come in time (a hang is a failure).
  T get(std::chrono::milliseconds timeout = 20s) {
    if (future_.wait_for(timeout) != std::future_status::ready)
      throw std::runtime_error("timed out waiting for a callback");
    return future_.get();
  }
  bool ready() const { return future_.wait_for(0s) == std::future_status::ready; }

 private:
  struct State {
    std::promise<T> promise;
    std::atomic<bool> set{false};
  };
  std::shared_ptr<State> state_;
  std::future<T> future_;
};

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// A fresh temporary directory, removed with everything in it when the object goes.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "mcpd-test-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace mcpd::test
