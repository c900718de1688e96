// The mcpctl commands, one function each, run by main() through the command table: each
// builds its request, asks mcpd (cli.hpp) and prints the reply for a person (output.hpp).
// Each returns the exit status, or throws CliError.
#pragma once

#include "cli.hpp"

namespace mcpd::mcpctl {

// server_commands.cpp
int run_server_add(Invocation& inv);
int run_server_rm(Invocation& inv);
int run_server_ls(Invocation& inv);
int run_server_show(Invocation& inv);

// The MCPServer document `server add` sends, built from its arguments (or read from --file):
// only what was given, so that the daemon's own defaults apply to the rest. Not yet validated.
Json server_document(const ParsedArgs& args);

// tool_commands.cpp
int run_tools(Invocation& inv);
int run_call(Invocation& inv);

// The MCPToolRequest `call` sends (args from --args: JSON text, '-' for stdin or @FILE).
Json tool_request(const ParsedArgs& args);

}  // namespace mcpd::mcpctl
