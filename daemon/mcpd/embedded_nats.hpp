// The embedded default: with no NATS URL configured, mcpd runs a nats-server of its own on
// loopback, supervised like any child (own process group, stderr into our log, stopped with
// us), and waits until it accepts connections.
#pragma once

#include "io/loop.hpp"
#include "transport/stdio_transport.hpp"

#include <chrono>
#include <memory>
#include <string>

namespace mcpd::daemon {

class EmbeddedNats {
 public:
  // Starts `binary` on host:port and waits up to `timeout` for it to listen. Throws
  // std::runtime_error with the server's last stderr lines when it cannot start.
  // With a `jetstream_dir`, JetStream is enabled and stores there (session affinity and the
  // replicated catalog then work on a single node exactly as in a cluster).
  EmbeddedNats(io::Loop& loop, const std::string& binary, const std::string& host, int port,
               const std::string& jetstream_dir = {}, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  ~EmbeddedNats();
  std::string url() const;
  void stop();

 private:
  std::shared_ptr<transport::StdioTransport> process_;
  std::string host_;
  int port_;
};

}  // namespace mcpd::daemon
