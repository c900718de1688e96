// MCP protocol facts the client relies on: the revisions we speak, method names, and helpers
// that read tool results without losing anything.
#pragma once

#include "common/version.hpp"

#include <nlohmann/json_fwd.hpp>

#include <array>
#include <string>
#include <string_view>

namespace mcpd::mcp {

using Json = nlohmann::json;

// Newest first; the first is what we ask for in initialize.
inline constexpr std::array<std::string_view, 3> kSupportedProtocolVersions = {"2025-11-25", "2025-06-18",
                                                                                "2025-03-26"};
inline constexpr std::string_view kLatestProtocolVersion = kSupportedProtocolVersions[0];

bool is_supported_protocol_version(std::string_view version);
// "2025-11-25, 2025-06-18, 2025-03-26" — for error messages.
std::string supported_protocol_versions();

// Tasks (MCP 2025-11-25): the _meta member that ties a message to a task, and what a tool says
// about being run as one (its execution.taskSupport; only meaningful when the server declares
// capabilities.tasks.requests.tools.call).
inline constexpr std::string_view kRelatedTaskMeta = "io.modelcontextprotocol/related-task";
enum class TaskSupport { forbidden, optional, required };
TaskSupport task_support_of(const Json& tool);
bool server_runs_tool_tasks(const Json& capabilities);

// The client name and version we announce in initialize.
inline constexpr std::string_view kClientName = "mcpd";
inline constexpr std::string_view kClientVersion = mcpd::kVersion;

// The text content of a CallToolResult joined with newlines, or its structuredContent when
// present (the "compat" reply format). Non-text content is left out of the text form; callers
// who need it ask for the whole result.
Json compat_result(const Json& call_tool_result);
// True when a CallToolResult says the tool failed (isError: true).
bool is_tool_error(const Json& call_tool_result);
// The joined text of a result's text content (used for error messages).
std::string result_text(const Json& call_tool_result);

}  // namespace mcpd::mcp
