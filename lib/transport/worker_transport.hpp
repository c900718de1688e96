// WorkerTransport: an MCP server that runs in-process, on a thread of its own, and talks to
// the client through two bounded channels. The worker gets a cancellation token; cancelling
// (or closing the transport) stops the worker, closes both channels and reports the transport
// closed, so every call still pending on it fails. Tests host fake servers with it; built-in
// tools run on it too.
#pragma once

#include "transport/transport.hpp"

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>

namespace mcpd::transport {

// A bounded, closable multi-producer queue of messages.
class Channel {
 public:
  explicit Channel(std::size_t capacity) : capacity_(capacity) {}
  // Adds a message unless the channel is full or closed; never blocks.
  bool try_push(std::string message);
  // Adds a message, waiting while the channel is full; false if it closed or `stop` fired.
  bool push(std::string message, std::stop_token stop);
  // Takes the next message, waiting while empty; nullopt once closed and drained, or on `stop`.
  std::optional<std::string> pop(std::stop_token stop);
  void close();
  bool closed() const;

 private:
  mutable std::mutex mu_;
  std::condition_variable_any cv_;
  std::deque<std::string> items_;
  std::size_t capacity_;
  bool closed_ = false;
};

// What a worker sees: its inbox (client → worker) and outbox (worker → client).
class WorkerIo {
 public:
  virtual ~WorkerIo() = default;
  // The next message from the client; nullopt when the transport is closing.
  virtual std::optional<std::string> receive() = 0;
  // Sends a message to the client; waits while the outbox is full; false when closing.
  virtual bool send(std::string message) = 0;
  virtual std::stop_token stop_token() const = 0;
};

// The worker body: runs on its own thread until it returns or the token asks it to stop.
using WorkerMain = std::function<void(WorkerIo& io)>;

struct WorkerOptions {
  std::string name;
  std::size_t inbox_capacity = 1024;
  std::size_t outbox_capacity = 1024;
};

class WorkerTransport : public Transport {
 public:
  ~WorkerTransport() override;
  // Stops the worker: its pending calls fail with "cancelled". Same as close().
  virtual void cancel() = 0;
};

std::shared_ptr<WorkerTransport> make_worker_transport(io::Strand strand, WorkerOptions options,
                                                       WorkerMain main);

}  // namespace mcpd::transport
