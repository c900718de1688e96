// What every mcpctl command is given: the global options, its parsed arguments, a NATS client
// connected on first use (so that a command failing on its input sends nothing), and the common
// handling of mcpd's replies (--json, error replies, the session_reset note). Also the command
// table's row type.
#pragma once

#include "args.hpp"
#include "client.hpp"

#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace mcpd::mcpctl {

struct GlobalOptions {
  // Resolved: each from its flag, else its MCPD_NATS_* variable, else (url, user and password)
  // the local node's credentials file (local_login.hpp); the url: else nats://127.0.0.1:4222.
  // --nats/URL, --user/USER, --password/PASSWORD, --token/TOKEN, --creds/CREDS,
  // --nkey/NKEY_SEED, --tls-ca/TLS_CA, --tls-cert/TLS_CERT, --tls-key/TLS_KEY.
  ConnectOptions nats;
  std::string prefix = "mcp";
  std::optional<std::chrono::milliseconds> timeout;  // --timeout: how long to wait for a reply
  bool json = false;
};

// Request timeouts when --timeout is not given.
inline constexpr std::chrono::milliseconds kDefaultTimeout{10'000};
inline constexpr std::chrono::milliseconds kDefaultCallTimeout{35'000};  // the daemon's 30 s + 5 s

class Invocation {
 public:
  Invocation(GlobalOptions global, ParsedArgs args) : global_(std::move(global)), args_(std::move(args)) {}

  const GlobalOptions& global() const { return global_; }
  const ParsedArgs& args() const { return args_; }
  node::Subjects subjects() const { return node::Subjects{global_.prefix}; }

  // Sends `body` to `subject` and returns mcpd's reply (timeout: --timeout, else `fallback`).
  // With --json the reply is printed verbatim here (with `echo_json` false only an error reply
  // is: the command prints a good one itself, combined with more). An error reply ({"error",
  // "code"}) is reported on stderr as "mcpctl: <code>: <error>" and ends the command with status 1.
  Reply ask(const std::string& subject, const Json& body, std::chrono::milliseconds fallback = kDefaultTimeout,
            bool echo_json = true);

  // Publishes `body` once to `subject` and returns every reply that arrives within `window`
  // (Client::gather: at most `max` if non-zero; empty when nobody answered). Prints nothing.
  std::vector<Reply> gather(const std::string& subject, std::string_view body,
                            std::chrono::milliseconds window = kDefaultGatherWindow, std::size_t max = 0);

  // Subscribes to `subject` (Client::listen): every message published there from now on is
  // queued for the caller. Prints nothing.
  std::unique_ptr<Events> listen(const std::string& subject);

 private:
  Client& client();

  GlobalOptions global_;
  ParsedArgs args_;
  std::unique_ptr<Client> client_;
};

// One row of the command table (commands.cpp); main() dispatches and prints help from it.
struct Command {
  std::string_view path;      // "server add"
  std::string_view synopsis;  // what follows the path in the usage line; '\n' starts another form
  std::string_view brief;     // what follows the path in the overview of `mcpctl --help`
  std::string_view summary;   // one line for `mcpctl --help`
  std::span<const OptionSpec> options;
  std::string_view details;   // the rest of `mcpctl <command> --help`: description, examples
  std::size_t min_operands = 0;
  std::size_t max_operands = 0;
  bool takes_rest = false;    // accepts words after `--`
  int (*run)(Invocation&) = nullptr;
};

std::span<const Command> command_table();
// Other names people type for a command ("server list" for "server ls"); {alias, path}.
std::span<const std::pair<std::string_view, std::string_view>> command_aliases();

// The options every command also accepts (mcpctl server ls --json).
std::span<const OptionSpec> global_options();

}  // namespace mcpd::mcpctl
