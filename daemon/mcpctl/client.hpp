// mcpctl's side of the bus: one short-lived NATS connection and blocking request/reply with
// mcpd, turning what can go wrong on the way (NATS down, no daemon, no reply in time, a reply
// that is not JSON) into CliErrors a person can act on. What the reply *says* (an error reply
// from mcpd included) is the caller's business.
#pragma once

#include "bus/connection.hpp"
#include "node/subjects.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <memory>
#include <string>

namespace mcpd::mcpctl {

using Json = nlohmann::json;

struct ConnectOptions {
  std::string url;         // one or more comma-separated NATS URLs
  std::string creds_file;  // NATS user credentials; empty: none
  std::chrono::milliseconds connect_timeout{2000};
};

// mcpd's reply: the body as sent, and parsed (always a JSON object).
struct Reply {
  std::string raw;
  Json body;
};

class Client {
 public:
  // Connects at once or throws CliError "cannot connect to NATS at <url>: ...".
  static std::unique_ptr<Client> connect(const ConnectOptions& options);
  ~Client();

  // Sends `body` to `subject` and waits up to `timeout` for the answer. Throws CliError when
  // there is no answer (no responders, timeout, connection lost) or it is not a JSON object.
  Reply request(const std::string& subject, const std::string& body, std::chrono::milliseconds timeout);

 private:
  explicit Client(std::shared_ptr<bus::Connection> conn, std::string url)
      : conn_(std::move(conn)), url_(std::move(url)) {}
  std::shared_ptr<bus::Connection> conn_;
  std::string url_;
};

}  // namespace mcpd::mcpctl
