// InProcessServer: a small MCP server (initialize, ping, tools/list, tools/call,
// notifications/cancelled) whose tools are C++ functions. serve() returns a WorkerMain, so the
// server runs on a WorkerTransport's thread and a ClientSession talks to it exactly as to a
// child process. Each call runs on a thread of its own (at most kMaxConcurrentCalls at once;
// more are refused as busy), so a slow tool does not hold up the others; its stop token fires
// when the client cancels that call or the worker stops: a handler that blocks must watch it.
#pragma once

#include "common/error.hpp"
#include "transport/worker_transport.hpp"

#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <stop_token>
#include <string>

namespace mcpd::mcp {

using Json = nlohmann::json;

struct ToolCall {
  const Json& arguments;
  std::stop_token stop;  // fires when the client cancels this call, or the worker stops
};

// Returns a CallToolResult ({content, structuredContent?, isError?}), or an Error that becomes
// a JSON-RPC error (rpc_code, default -32603). Runs on the worker's own thread; may block.
using ToolHandler = std::function<Result<Json>(const ToolCall& call)>;

class InProcessServer {
 public:
  static constexpr std::size_t kMaxConcurrentCalls = 64;

  explicit InProcessServer(std::string name, std::string version = "1.0.0");

  // `definition` is the full MCP tool object (name, description, inputSchema, ...).
  InProcessServer& add_tool(Json definition, ToolHandler handler);

  // The worker body. The server is copied into it: later add_tool calls do not affect it.
  transport::WorkerMain serve() const;

 private:
  struct Tool {
    Json definition;
    ToolHandler handler;
  };
  std::string name_, version_;
  std::map<std::string, Tool> tools_;
};

// A CallToolResult with one text content item.
Json text_result(std::string text, bool is_error = false);

}  // namespace mcpd::mcp
