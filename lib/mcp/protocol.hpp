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

// The revisions negotiated with the initialize handshake, newest first; the first is what we
// ask for in initialize. 2024-11-05 is the revision of the legacy HTTP+SSE servers.
inline constexpr std::array<std::string_view, 4> kSupportedProtocolVersions = {"2025-11-25", "2025-06-18",
                                                                                "2025-03-26", "2024-11-05"};
inline constexpr std::string_view kLatestProtocolVersion = kSupportedProtocolVersions[0];

// The stateless revisions (2026-07-28 on): no handshake; server/discover says what the server
// speaks and every request carries the revision and our capabilities in params._meta.
inline constexpr std::array<std::string_view, 1> kStatelessProtocolVersions = {"2026-07-28"};
inline constexpr std::string_view kLatestStatelessVersion = kStatelessProtocolVersions[0];

bool is_supported_protocol_version(std::string_view version);
// A revision of the stateless era (by date: revision names sort chronologically).
bool is_stateless_protocol_version(std::string_view version);
// "2025-11-25, 2025-06-18, 2025-03-26, 2024-11-05" — for error messages.
std::string supported_protocol_versions();

// The per-request _meta envelope of the stateless era (our side) and the server's identity in a
// result's _meta (its side).
inline constexpr std::string_view kProtocolVersionMeta = "io.modelcontextprotocol/protocolVersion";
inline constexpr std::string_view kClientCapabilitiesMeta = "io.modelcontextprotocol/clientCapabilities";
inline constexpr std::string_view kClientInfoMeta = "io.modelcontextprotocol/clientInfo";
inline constexpr std::string_view kServerInfoMeta = "io.modelcontextprotocol/serverInfo";
// JSON-RPC errors only a stateless-era server sends: they prove the era even as failures.
inline constexpr int kHeaderMismatch = -32020;
inline constexpr int kMissingRequiredClientCapability = -32021;
inline constexpr int kUnsupportedProtocolVersion = -32022;

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
