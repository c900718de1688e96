// The mcpctl commands, one function each, run by main() through the command table: each
// builds its request, asks mcpd (cli.hpp) and prints the reply for a person (output.hpp).
// Each returns the exit status, or throws CliError.
#pragma once

#include "cli.hpp"
#include "output.hpp"

#include <chrono>
#include <iosfwd>
#include <string_view>
#include <vector>

namespace mcpd::mcpctl {

// server_commands.cpp
int run_server_add(Invocation& inv);
int run_server_rm(Invocation& inv);
int run_server_ls(Invocation& inv);
int run_server_show(Invocation& inv);

// The MCPServer document `server add` sends, built from its arguments (or read from --file):
// only what was given, so that the daemon's own defaults apply to the rest. Not yet validated.
Json server_document(const ParsedArgs& args);

// node_commands.cpp
int run_nodes(Invocation& inv);

// The NATS service-discovery stats subject every mcpd node answers (no queue group).
inline constexpr std::string_view kStatsSubject = "$SRV.STATS.mcpd";

// --wait MS: how long to gather the nodes' answers (default 500 ms); a usage error if invalid.
std::chrono::milliseconds gather_window(const Invocation& inv);
// The stats reply of every live node of the cluster (--prefix), sorted by node id, gathered for
// `window`; empty when no node answered.
std::vector<Reply> node_stats(Invocation& inv, std::chrono::milliseconds window);
std::string node_id(const Reply& stats);
// Server `name` on each of those nodes (its data.servers entry), for `server show`: a table
// NODE, SESSIONS, ... ("not running" where it does not run), or for --json an object keyed by
// node id holding each entry as sent (null where it does not run).
void print_server_health(std::ostream& out, const std::string& name, const std::vector<Reply>& nodes);
OrderedJson server_health_json(const std::string& name, const std::vector<Reply>& nodes);

// tool_commands.cpp
int run_tools(Invocation& inv);
int run_call(Invocation& inv);

// The --args of call and probe: a JSON object given inline, as @FILE, or as - (standard input).
// A usage error (exit 2) names what is wrong.
nlohmann::json parse_args_json(const std::string& spec);
// The same for any option taking a JSON object (tasks input --response): `what` says what the
// object is, `example` shows one, in the messages.
nlohmann::json parse_json_option(std::string_view option, const std::string& spec, std::string_view what,
                                 std::string_view example);
// A tool's reply ({"result": ...}) printed as `call` prints it (print_tool_result, and a note
// when compat left no text); returns the exit status.
int print_call_result(const Json& reply, bool mcp_format);

// resource_commands.cpp: resources, prompts and completion (contract 1.1).
int run_resources(Invocation& inv);
int run_read(Invocation& inv);
int run_prompts(Invocation& inv);
int run_prompt(Invocation& inv);
int run_complete(Invocation& inv);

// task_commands.cpp: the tasks of the NATS contract 1.1 (<prefix>.tasks.*).
// `call --task`: `request` (tool_request, with "task") is sent to `server`; the task's status is
// shown on stderr until it is final, then its result printed as `call` prints it. Ctrl-C leaves
// it running and exits 130.
int run_call_task(Invocation& inv, const std::string& server, const Json& request);
int run_tasks_ls(Invocation& inv);
int run_tasks_get(Invocation& inv);
int run_tasks_result(Invocation& inv);
int run_tasks_cancel(Invocation& inv);
int run_tasks_input(Invocation& inv);
int run_tasks_watch(Invocation& inv);

// The exit status of a command stopped by Ctrl-C while following a task (128 + SIGINT).
inline constexpr int kInterruptedStatus = 130;

// probe_command.cpp: a direct MCP session with a remote server (no daemon, no NATS).
int run_probe(Invocation& inv);

// auth_command.cpp: the authorization-code flow with PKCE for a server's OAuth (no token on the bus).
int run_auth_login(Invocation& inv);
int run_auth_handover(Invocation& inv);

// The MCPToolRequest `call` sends (args from --args: JSON text, '-' for stdin or @FILE; with
// --task also "task" ({"ttl_ms"} from --ttl) and "owner").
Json tool_request(const ParsedArgs& args);

}  // namespace mcpd::mcpctl
