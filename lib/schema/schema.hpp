// The NATS contract's payload schemas and a validator over them.
//
// proto-schemas/<name>.schema.json (JSON Schema 2020-12, one file per payload) are compiled
// into this library at build time, so the daemon checks what crosses the bus against exactly
// the files callers read: the schema is the contract, not a document beside it. A failure is
// one line a person can act on, naming the field and the rule:
//
//   if (auto st = schema::validate(schema::Payload::tool_request, body); !st.ok())
//     return reply_error(st.error());   // "timeout_ms: must be at most 3600000, got 9000000"
//
// Thread-safe: the schemas are parsed once, on first use, and only read afterwards.
#pragma once

#include "common/error.hpp"

#include <nlohmann/json_fwd.hpp>

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace mcpd::schema {

// One per schema file; see proto-schemas/README.md for which subject carries which.
enum class Payload {
  tool_request,          // MCPToolRequest: body of mcp.<name>.execute
  tool_reply,            // MCPToolReply: its reply
  tool_list_request,     // body of mcp.<name>.list-tools
  tool_list_reply,       // MCPToolListReply: its reply
  server,                // MCPServer: admin put, mcp.servers.created, admin replies
  server_deleted_event,  // mcp.servers.deleted
  admin_name_request,    // body of mcp.admin.servers.get and .delete
  admin_list_request,    // body of mcp.admin.servers.list
  admin_server_reply,    // reply of admin put and get
  admin_list_reply,      // reply of admin list
  admin_deleted_reply,   // reply of admin delete
  task_id_request,       // body of mcp.tasks.get and .cancel
  task_result_request,   // body of mcp.tasks.result
  task_list_request,     // body of mcp.tasks.list
  task_input_request,    // body of mcp.tasks.input
  task_reply,            // {"task": ...}: execute with task, tasks get/cancel/input/result, status events
  task_list_reply,       // reply of mcp.tasks.list
  progress_event,        // published to an execute's progress_subject
  page_request,          // body of mcp.<name>.resources.list, .resources.templates, .prompts.list
  resource_read_request,  // body of mcp.<name>.resources.read
  prompt_get_request,    // body of mcp.<name>.prompts.get
  complete_request,      // body of mcp.<name>.complete
  resource_list_reply,   // reply of mcp.<name>.resources.list
  resource_template_list_reply,  // reply of mcp.<name>.resources.templates
  resource_read_reply,   // reply of mcp.<name>.resources.read
  prompt_list_reply,     // reply of mcp.<name>.prompts.list
  prompt_get_reply,      // reply of mcp.<name>.prompts.get
  complete_reply,        // reply of mcp.<name>.complete
  oauth_key_reply,       // reply of mcp.nodes.<node>.oauth.key
  oauth_grant_request,   // body of mcp.nodes.<node>.oauth.grant
  oauth_grant_reply,     // its reply
  error_reply,           // any failed request that has no payload-specific reply
};

// Every Payload, in declaration order.
std::span<const Payload> all_payloads();

// The payload's file name without ".schema.json": "tool-request", "server-deleted-event", ...
std::string_view name(Payload payload);

// OK when `value` conforms to the payload's schema. Otherwise
// Error{Errc::invalid_request, message}: the first problem, located and worded for a person
// ("tool: expected a string, got number", "auth.token: unknown field (allowed: tokenEnv,
// tokenFile, type)"), followed by "(and N more problems)" when there are others.
// Errc::internal if the embedded schemas do not load, which is a build defect (see self_check).
Status validate(Payload payload, const nlohmann::json& value);

// The embedded schema file, byte for byte (empty if the build did not embed it).
const std::string& schema_text(Payload payload);

// Parses every embedded schema now rather than on first use; an Error naming the file if one
// does not load. For main() to fail at startup instead of on the first message.
Status self_check();

}  // namespace mcpd::schema
