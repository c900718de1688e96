// StdioTransport: an MCP server as a supervised child process speaking newline-delimited JSON
// on stdin/stdout. The child runs in its own session and process group with an explicit
// environment; its stderr is logged line by line under the server's name, within a budget;
// stopping it closes
// stdin, then signals the whole group (SIGTERM, then SIGKILL), so grandchildren die too; the
// child is always reaped (its exit is watched through a pidfd on the event loop).
#pragma once

#include "common/log_budget.hpp"
#include "transport/transport.hpp"

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace mcpd::transport {

struct StdioOptions {
  std::string name;                              // the server's name, used in every log line
  std::string command;
  std::vector<std::string> args;
  std::map<std::string, std::string> env;        // added to (or replacing) the base environment
  bool inherit_env = false;                      // base environment: all of ours, or a safe few
  std::string cwd;
  std::chrono::milliseconds eof_grace{2000};     // after closing stdin, before SIGTERM
  std::chrono::milliseconds term_grace{2000};    // after SIGTERM, before SIGKILL
  std::size_t stderr_tail_lines = 20;            // kept for error messages whatever is logged
  // How many stderr lines reach the log (shared by every session of a server); the rest are
  // counted and reported. Null: a budget of 120 lines a minute for this process alone.
  std::shared_ptr<SharedLogBudget> stderr_budget;
  std::size_t max_message_bytes = 256u << 20;    // a longer stdout line is a broken server
};

class StdioTransport;
std::shared_ptr<StdioTransport> make_stdio_transport(io::Strand strand, StdioOptions options);

class StdioTransport : public Transport {
 public:
  ~StdioTransport() override;
  // The child's pid (also its process-group id) once started, else -1.
  virtual int pid() const = 0;
};

}  // namespace mcpd::transport
