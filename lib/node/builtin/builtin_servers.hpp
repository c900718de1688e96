// The in-process MCP servers a node can host (transport "builtin"), by name: the session
// factory asks here for a server's worker body. The node adds its own ("mcpd") once it exists,
// before any server starts. Thread-safe.
#pragma once

#include "transport/worker_transport.hpp"

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace mcpd::node {

class BuiltinServers {
 public:
  using Factory = std::function<transport::WorkerMain()>;

  void add(const std::string& name, Factory factory) {
    std::lock_guard lock(mu_);
    factories_[name] = std::move(factory);
  }
  // A fresh worker body of `name` (one per session), if this node hosts it.
  std::optional<transport::WorkerMain> make(const std::string& name) const {
    Factory f;
    {
      std::lock_guard lock(mu_);
      auto it = factories_.find(name);
      if (it == factories_.end()) return std::nullopt;
      f = it->second;
    }
    return f();
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, Factory> factories_;
};

}  // namespace mcpd::node
