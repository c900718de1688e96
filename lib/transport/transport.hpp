// The Transport interface: a bidirectional channel of JSON-RPC messages (one serialized JSON
// value per message) to one MCP server, that reports once and only once why it closed.
// Implementations: StdioTransport (a child process), WorkerTransport (an in-process worker);
// the Streamable-HTTP transport follows the same contract.
#pragma once

#include "io/loop.hpp"

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mcpd::transport {

// Why a transport closed, with what a person needs to diagnose it.
struct Closed {
  std::string reason;                     // e.g. "exited with status 3", "killed by signal 9"
  std::optional<int> exit_status;         // set when a process exited normally
  std::optional<int> term_signal;         // set when a process was killed by a signal
  std::vector<std::string> stderr_tail;   // the last lines the server wrote to stderr
  bool requested = false;                 // true when close() was asked for (not a crash)
  // Set when the transport stopped the server itself, and why ("it sent a message of ... bytes").
  std::string stopped_because;
  bool too_large = false;                 // ...because of a message over maxMessageBytes

  // "exited with status 3; last stderr: boom" — one line for logs and error replies.
  std::string describe() const;
};

class Transport {
 public:
  struct Handlers {
    std::function<void(std::string_view message)> on_message;  // called on strand()
    std::function<void(const Closed&)> on_closed;              // called once, on strand()
  };

  virtual ~Transport() = default;

  // The strand every handler runs on; users of the transport share it to avoid hops.
  virtual const io::Strand& strand() const = 0;
  // Starts the transport. A failure to start (command not found, ...) is reported through
  // on_closed, never thrown.
  virtual void start(Handlers handlers) = 0;
  // Queues one message. Any thread. Returns false if the transport is closed or full.
  virtual bool send(std::string message) = 0;
  // send() for a message with nothing else of ours in flight (a request to an idle session):
  // the transport may write it from the calling thread at once, sparing the loop a wake-up.
  // Under load send() is better: queued messages share one write.
  virtual bool send_now(std::string message) { return send(std::move(message)); }
  // Graceful stop; `done` runs on the strand once the transport is fully stopped (for a
  // process: it and its process group are gone). Safe to call more than once and after a crash.
  virtual void close(std::function<void()> done = {}) = 0;
  // "stdio:npx -y server-x (pid 1234)" — for logs.
  virtual std::string describe() const = 0;
};

}  // namespace mcpd::transport
