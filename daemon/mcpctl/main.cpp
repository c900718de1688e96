// mcpctl: the command-line client of mcpd. This file reads the global options, finds the
// command in the table (commands.cpp), parses its arguments, prints help and usage, and turns
// a CliError into "mcpctl: <message>" and an exit status (1: failed, 2: usage error).
#include "common/version.hpp"
#include "bus/connection.hpp"
#include "commands.hpp"
#include "local_login.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <iostream>


namespace mcpd::mcpctl {
namespace {

constexpr std::string_view kGlobalSynopsis =
    "mcpctl [--nats URL] [NATS login and TLS options] [--prefix mcp] [--timeout MS] [--json] <command> ...";

constexpr std::string_view kOverviewTail = R"HELP(
Every command also accepts the global options after it (mcpctl server ls --json).

Environment (the variables mcpd reads; a flag wins over its variable):
  MCPD_NATS_URL        NATS server URL(s) when --nats is not given
  MCPD_NATS_USER       --user         MCPD_NATS_PASSWORD   --password
  MCPD_NATS_TOKEN      --token        MCPD_NATS_CREDS      --creds
  MCPD_NATS_NKEY_SEED  --nkey         MCPD_NATS_TLS_CA     --tls-ca
  MCPD_NATS_TLS_CERT   --tls-cert     MCPD_NATS_TLS_KEY    --tls-key
  MCPD_STATE_DIR       the local node's state directory (where its catalog is)

Where the NATS server and login come from, first found wins:
  1. the flags (--nats, --user/--password, --token, --creds, --nkey, --tls-*);
  2. the environment (MCPD_NATS_URL, MCPD_NATS_USER/PASSWORD/TOKEN/CREDS/NKEY_SEED/TLS_*);
  3. the local node's credentials file, which mcpd writes for its embedded nats-server:
       $MCPD_STATE_DIR/credentials/local-nats   when MCPD_STATE_DIR is set, else
       ./.mcpd/credentials/local-nats           (the quick start, from the repository root), else
       /var/lib/mcpd/credentials/local-nats     (beside the default catalog).
     Its user and password are used only when 1 and 2 give no login, and only for its own url
     (which is also the server when no --nats or MCPD_NATS_URL is given). It is readable by
     mcpd's user only: run mcpctl as that user (e.g. with sudo) or give the login yourself;
  4. the default server nats://127.0.0.1:4222, with no login.

Examples:
  mcpctl server add everything --command npx -- -y @modelcontextprotocol/server-everything
  mcpctl server add remote --url https://mcp.example.com/mcp --token-env EXAMPLE_TOKEN
  mcpctl server ls
  mcpctl nodes
  mcpctl server show everything
  mcpctl tools everything
  mcpctl call everything echo --args '{"message": "hello"}'
  mcpctl call everything simulate-research-query --args '{"topic": "tides"}' --task --owner ops
  mcpctl tasks ls --owner ops
  mcpctl --nats nats://10.0.0.5:4222 --json server show everything
  mcpctl --nats tls://nats.example.com:4222 --tls-ca ca.pem --creds mcpd.creds nodes
  mcpctl probe --url https://mcp.example.com/mcp --token-env EXAMPLE_TOKEN   (direct, no daemon)

Exit status: 0 done; 1 the request failed (mcpctl: <code>: <message> on stderr, the codes of
the NATS contract: invalid_request, unknown_tool, tool_error, timeout, unavailable, ...) or
no mcpd answered (nodes: no node answered); 2 the command line is wrong; 130 Ctrl-C while
following a task (call --task, tasks watch), which goes on running.

Run 'mcpctl <command> --help' for a command's options and examples.
)HELP";

// "mcpctl server add NAME ..." — one line per form of the command, aligned under the first.
std::string full_synopsis(const Command& c, std::string_view indent) {
  std::string s, form;
  auto flush = [&] {
    if (!s.empty()) s += "\n" + std::string(indent);
    s += "mcpctl " + std::string(c.path) + (form.empty() ? "" : " " + form);
    form.clear();
  };
  for (char ch : c.synopsis) {
    if (ch == '\n') flush();
    else form += ch;
  }
  flush();
  return s;
}

void print_overview(std::ostream& out) {
  out << "mcpctl " << mcpd::kVersion << " - manage and call the MCP servers of an mcpd cluster over NATS,\n"
      << "and check a remote MCP server directly (probe)\n\n"
      << "Usage: " << kGlobalSynopsis << "\n\nCommands:\n";
  std::vector<std::pair<std::string, std::string_view>> rows;
  for (const auto& c : command_table())
    rows.emplace_back(std::string(c.path) + (c.brief.empty() ? "" : " " + std::string(c.brief)), c.summary);
  rows.emplace_back("help COMMAND", "show a command's options and examples");
  std::size_t width = 0;
  for (const auto& [left, summary] : rows) width = std::max(width, left.size());
  for (const auto& [left, summary] : rows) out << "  " << left << std::string(width - left.size() + 3, ' ') << summary << '\n';
  out << "\nGlobal options:\n"
      << format_options(global_options()) << kOverviewTail;
}

void print_command_help(std::ostream& out, const Command& c) {
  std::string summary(c.summary);
  if (!summary.empty()) summary[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(summary[0])));
  out << "Usage: " << full_synopsis(c, "       ") << "\n\n" << summary << ".\n\n";
  if (!c.options.empty()) out << "Options:\n" << format_options(c.options, 26) << '\n';
  out << c.details;
  if (c.path == "probe")  // talks to no mcpd: of the global options only these apply
    out << "\nGlobal options, before or after the command: --json, -v (see mcpctl --help).\n";
  else
    out << "\nGlobal options, before or after the command: --nats URL, NATS login and TLS (--user,\n"
           "--password, --token, --creds, --nkey, --tls-ca, --tls-cert, --tls-key), --prefix PREFIX,\n"
           "--timeout MS, --json, -v (see mcpctl --help).\n";
}

void print_short_usage(std::ostream& out, const Command* c) {
  if (c) out << "usage: " << full_synopsis(*c, "       ") << "\nRun 'mcpctl " << c->path << " --help' for more.\n";
  else out << "usage: " << kGlobalSynopsis << "\nRun 'mcpctl --help' for the commands.\n";
}

// The command named by the leading words of `args`; `*used` gets how many words that took.
const Command* find_command(std::span<const std::string> args, std::size_t* used) {
  std::vector<std::string> words;
  for (std::size_t i = 0; i < args.size() && i < 2 && !args[i].starts_with("-"); ++i) words.push_back(args[i]);
  for (std::size_t n = words.size(); n > 0; --n) {
    std::string path = words[0] + (n == 2 ? " " + words[1] : "");
    for (const auto& [alias, target] : command_aliases())
      if (alias == path) path = target;
    for (const auto& c : command_table()) {
      if (c.path == path) {
        *used = n;
        return &c;
      }
    }
  }
  return nullptr;
}

// `mcpctl server` alone, `mcpctl server bogus`, `mcpctl bogus`: say what exists.
[[noreturn]] void no_such_command(std::span<const std::string> args) {
  std::string group = args.empty() ? "" : args[0];
  std::string subcommands;
  for (const auto& c : command_table())
    if (c.path.starts_with(group + " ")) subcommands += (subcommands.empty() ? "" : ", ") + std::string(c.path.substr(group.size() + 1));
  if (!subcommands.empty()) {
    if (args.size() < 2 || args[1].starts_with("-")) throw usage_error(group + " needs a subcommand: " + subcommands);
    throw usage_error("unknown command '" + group + " " + args[1] + "' (" + group + " commands: " + subcommands + ")");
  }
  throw usage_error("unknown command '" + group + "' (commands: server, nodes, tools, call, tasks, auth, probe, help)");
}

void validate_prefix(const std::string& prefix) {
  bool ok = !prefix.empty() && prefix.front() != '.' && prefix.back() != '.' && prefix.find("..") == std::string::npos;
  for (char c : prefix) ok = ok && c > ' ' && c != '*' && c != '>' && c != 0x7f;
  if (!ok) throw usage_error("--prefix: '" + prefix + "' is not a NATS subject prefix (tokens separated by '.', no spaces, '*' or '>')");
}

// Global options from before the command, overridden by those after it (unless the command
// gives that name its own meaning, as call does with --timeout).
GlobalOptions resolve_globals(const ParsedArgs& before, const ParsedArgs& after, const Command& cmd, bool* verbose) {
  auto value = [&](std::string_view name) -> std::optional<std::string> {
    bool own = false;
    for (const auto& o : cmd.options) own = own || o.name == name;
    if (!own && after.has(name)) return after.get(name).value_or("");
    if (before.has(name)) return before.get(name).value_or("");
    return std::nullopt;
  };
  auto env = [](const char* name) -> std::string {
    const char* v = std::getenv(name);
    return v ? v : "";
  };
  GlobalOptions g;
  g.nats.url = value("nats").value_or(env("MCPD_NATS_URL"));  // empty: the local node's, else the default
  // The connection's settings, as mcpd's [nats] keys: a flag wins over its variable (the one mcpd
  // reads), an empty value means unused.
  struct NatsSetting {
    std::string_view flag;
    const char* variable;
    std::string ConnectOptions::*field;
  };
  static constexpr NatsSetting nats_settings[] = {
      {"user", "MCPD_NATS_USER", &ConnectOptions::user},
      {"password", "MCPD_NATS_PASSWORD", &ConnectOptions::password},
      {"token", "MCPD_NATS_TOKEN", &ConnectOptions::token},
      {"creds", "MCPD_NATS_CREDS", &ConnectOptions::creds_file},
      {"nkey", "MCPD_NATS_NKEY_SEED", &ConnectOptions::nkey_seed_file},
      {"tls-ca", "MCPD_NATS_TLS_CA", &ConnectOptions::tls_ca_file},
      {"tls-cert", "MCPD_NATS_TLS_CERT", &ConnectOptions::tls_cert_file},
      {"tls-key", "MCPD_NATS_TLS_KEY", &ConnectOptions::tls_key_file},
  };
  for (const auto& s : nats_settings) g.nats.*s.field = value(s.flag).value_or(env(s.variable));
  // Then, with no login from either, the local node's credentials file (local_login.hpp).
  const bool login_given = !g.nats.user.empty() || !g.nats.password.empty() || !g.nats.token.empty() ||
                           !g.nats.creds_file.empty() || !g.nats.nkey_seed_file.empty() ||
                           !g.nats.tls_cert_file.empty();
  apply_local_login(g.nats, login_given);
  if (auto p = value("prefix")) g.prefix = *p;
  validate_prefix(g.prefix);
  if (auto t = value("timeout")) g.timeout = std::chrono::milliseconds(parse_int_option("timeout", *t, 1, 86'400'000));
  g.json = value("json").has_value();
  *verbose = value("verbose").has_value();
  return g;
}

void setup_logging(bool verbose) {
  // The bus logs through spdlog; a command's output is stdout, so logs go to stderr, and only
  // when asked for (errors are reported by mcpctl itself).
  auto logger = spdlog::stderr_color_mt("mcpctl");
  logger->set_pattern("%H:%M:%S.%e %^%l%$ %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(verbose ? spdlog::level::debug : spdlog::level::off);
}

int run(std::span<const std::string> args) {
  const Command* cmd = nullptr;
  try {
    std::size_t at = 0;
    const std::span<const OptionSpec> global_table[] = {global_options()};
    ParsedArgs before = parse_args(global_table, args, /*stop_at_operand=*/true, &at);
    if (before.has("version")) {
      std::cout << "mcpctl " << mcpd::kVersion << '\n';
      return 0;
    }
    auto rest = args.subspan(at);
    if (before.has("help") && rest.empty()) {
      print_overview(std::cout);
      return 0;
    }
    if (rest.empty()) {
      print_short_usage(std::cerr, nullptr);
      return 2;
    }
    const bool help_word = rest[0] == "help";
    if (help_word) rest = rest.subspan(1);
    if (help_word && rest.empty()) {
      print_overview(std::cout);
      return 0;
    }
    std::size_t used = 0;
    cmd = find_command(rest, &used);
    if (!cmd) {
      // `mcpctl server --help`: the overview lists the server commands.
      if (std::any_of(rest.begin(), rest.end(), [](const std::string& a) { return a == "-h" || a == "--help"; })) {
        print_overview(std::cout);
        return 0;
      }
      no_such_command(rest);
    }
    const std::span<const OptionSpec> tables[] = {cmd->options, global_options()};
    ParsedArgs parsed = parse_args(tables, rest.subspan(used));
    if (help_word || before.has("help") || parsed.has("help")) {
      print_command_help(std::cout, *cmd);
      return 0;
    }
    const auto n = parsed.operands.size();
    if (n < cmd->min_operands) throw usage_error(std::string(cmd->path) + " needs " + std::string(cmd->synopsis.substr(0, cmd->synopsis.find(" ["))));
    if (n > cmd->max_operands) {
      std::string extra = parsed.operands[cmd->max_operands];
      std::string hint = cmd->path == "call" ? " (pass the tool's arguments with --args '{...}')" : "";
      throw usage_error("unexpected argument '" + extra + "' for " + std::string(cmd->path) + hint);
    }
    if (!parsed.rest.empty() && !cmd->takes_rest)
      throw usage_error(std::string(cmd->path) + " takes no arguments after '--'");
    bool verbose = false;
    GlobalOptions global = resolve_globals(before, parsed, *cmd, &verbose);
    setup_logging(verbose);
    Invocation inv(std::move(global), std::move(parsed));
    return cmd->run(inv);
  } catch (const CliError& e) {
    std::cout.flush();
    std::cerr << "mcpctl: " << e.what() << '\n';
    if (e.status == 2) print_short_usage(std::cerr, cmd);
    return e.status;
  } catch (const std::exception& e) {  // a bug: say so rather than abort
    std::cout.flush();
    std::cerr << "mcpctl: internal error: " << e.what() << '\n';
    return 1;
  }
}

}  // namespace
}  // namespace mcpd::mcpctl

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  try {
    // nats.c's library state outlives every connection (which run() closes before returning).
    mcpd::bus::Library nats;
    const int status = mcpd::mcpctl::run(args);
    std::cout.flush();
    return status;
  } catch (const std::exception& e) {
    std::cerr << "mcpctl: " << e.what() << '\n';
    return 1;
  }
}
