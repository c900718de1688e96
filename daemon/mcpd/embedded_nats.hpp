// The embedded default: with no NATS URL configured, mcpd runs a nats-server of its own,
// supervised like any child (own process group, stderr into our log, stopped with us), and
// waits until it accepts connections. It requires a login: a user and a random password kept
// in <state dir>/credentials/local-nats (embedded_credentials.hpp), which mcpd connects with
// and mcpctl finds by itself; nats-server reads them from a configuration file in the same
// owner-only directory, never from its command line.
#pragma once

#include "credentials/local_credentials.hpp"
#include "io/loop.hpp"
#include "transport/stdio_transport.hpp"

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

namespace mcpd::daemon {

struct EmbeddedNatsOptions {
  std::string binary = "nats-server";
  std::string host = "127.0.0.1";  // the listen address ([nats.embedded] host)
  int port = 4222;
  // With a directory, JetStream is enabled and stores there (session affinity and the
  // replicated catalog then work on a single node exactly as in a cluster).
  std::string jetstream_dir;
  // Where credentials/ goes: the directory of the catalog.
  std::filesystem::path state_dir;
  std::chrono::milliseconds timeout{10'000};  // to wait for it to listen
};

class EmbeddedNats {
 public:
  // Prepares the login and configuration file, starts nats-server and waits for it to listen.
  // Throws std::runtime_error saying what failed (the server's last stderr lines when it could
  // not start, the path and the fix for a credentials problem).
  EmbeddedNats(io::Loop& loop, const EmbeddedNatsOptions& options);
  ~EmbeddedNats();
  // Where clients connect: the listen address, or loopback when it is a wildcard (0.0.0.0, ::).
  std::string url() const;
  // The login the server requires (user mcpd and the generated password).
  const credentials::LocalLogin& login() const { return login_; }
  void stop();

 private:
  std::shared_ptr<transport::StdioTransport> process_;
  std::string connect_host_;
  int port_;
  credentials::LocalLogin login_;
};

}  // namespace mcpd::daemon
