// The supergateway comparison of mcpd_bench_node: the same MCP server behind supergateway
// (stdio → stateful Streamable HTTP, one child process per MCP session), driven from this
// process by one MCP session over Streamable HTTP (mcpd's own client, the one a node uses
// toward remote servers), with many calls in flight on it as mcpd's bench session has.
#pragma once

#include "io/loop.hpp"
#include "mcp/client_session.hpp"

#include <memory>
#include <string>
#include <sys/types.h>

namespace mcpd::bench {

using Json = nlohmann::json;

class Supergateway {
 public:
  // Starts `gateway` (the supergateway script) serving `server` on a free loopback port and
  // opens a session to it. Throws when either does not come up.
  Supergateway(const std::string& gateway, const std::string& server);
  ~Supergateway();
  Supergateway(const Supergateway&) = delete;
  Supergateway& operator=(const Supergateway&) = delete;

  // tools/call of `tool` with `arguments`, waiting for the answer: the result, or the error's message.
  Result<Json> call(const std::string& tool, const Json& arguments);

 private:
  void stop();  // closes the session, the loop and supergateway's process group

  pid_t pid_ = -1;
  io::Loop loop_{1};
  std::shared_ptr<mcp::ClientSession> session_;
};

}  // namespace mcpd::bench
