// The floor: the server driven over two plain pipes by a single thread with no mcpd code at
// all (posix_spawn, poll, read, write). Requests are pipelined by id, keeping `concurrency` of
// them outstanding; replies are parsed once and checked like the session's.
#pragma once

#include "workload.hpp"

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace mcpd::bench {

class RawPipeClient {
 public:
  // Spawns argv (argv[0] searched in PATH) in its own session, stdin/stdout on pipes, stderr
  // on /dev/null (nobody would read it, and a full stderr pipe would stall the server).
  explicit RawPipeClient(const std::vector<std::string>& argv);
  ~RawPipeClient();
  RawPipeClient(const RawPipeClient&) = delete;
  RawPipeClient& operator=(const RawPipeClient&) = delete;

  // initialize, then notifications/initialized, by hand. Throws std::runtime_error on failure.
  void handshake(std::chrono::milliseconds timeout);
  // One closed-loop measurement (see RunSpec).
  Measurement run(const Workload& workload, const RunSpec& spec);

 private:
  using LineFn = std::function<void(std::string_view line)>;
  // Writes what it can, waits up to `timeout` for the server, reads and dispatches whole lines.
  // Returns false when nothing happened within `timeout` or the server closed stdout.
  bool pump(std::chrono::milliseconds timeout, const LineFn& on_line);
  void write_some();
  bool pending_output() const { return written_ < outbox_.size(); }
  bool read_some(const LineFn& on_line);
  void answer_server_request(const Json& msg);

  pid_t pid_ = -1;
  int in_fd_ = -1;   // the server's stdin (write end), non-blocking
  int out_fd_ = -1;  // the server's stdout (read end)
  std::string outbox_;
  std::size_t written_ = 0;  // bytes of outbox_ already written
  std::string inbox_;
  std::int64_t next_id_ = 1;
};

}  // namespace mcpd::bench
