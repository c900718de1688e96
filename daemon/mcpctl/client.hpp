// mcpctl's side of the bus: one short-lived NATS connection and blocking request/reply with
// mcpd, turning what can go wrong on the way (NATS down, no daemon, no reply in time, a reply
// that is not JSON) into CliErrors a person can act on. What the reply *says* (an error reply
// from mcpd included) is the caller's business.
#pragma once

#include "bus/connection.hpp"
#include "node/subjects.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mcpd::mcpctl {

using Json = nlohmann::json;

// How long gather() collects replies unless told otherwise.
inline constexpr std::chrono::milliseconds kDefaultGatherWindow{500};

// How to reach and log in to NATS: what bus::Options takes, as mcpd's [nats] section does.
// Empty fields are unused; TLS is used when any tls_* file is given or a URL is tls://.
struct ConnectOptions {
  std::string url;             // one or more comma-separated NATS URLs
  std::string user, password;  // user/password login
  std::string token;           // token login
  std::string creds_file;      // a .creds file: user JWT and seed (NATS operator mode)
  std::string nkey_seed_file;  // a user nkey seed file ("SU..."); the public key is derived from it
  std::string tls_ca_file;     // CA(s) to verify the server's certificate with
  std::string tls_cert_file, tls_key_file;  // client certificate and key (mutual TLS)
  std::chrono::milliseconds connect_timeout{2000};
  // When the login came from the local node's credentials file (local_login.hpp): its path; or
  // why a credentials file found could not be used, and what to do ("credentials file X is not
  // readable by this user: ..."). Said when NATS refuses the login.
  std::string login_file;
  std::string login_file_problem;
};

// mcpd's reply: the body as sent, and parsed (always a JSON object).
struct Reply {
  std::string raw;
  Json body;
};

// Messages published to one subject (no reply wanted), queued as they arrive until taken, in
// order: how mcpctl follows a task's status events. Delivery stops when this goes.
class Events {
 public:
  ~Events();
  // The next message, waiting up to `timeout` for one; nullopt if none came. Messages that are
  // not JSON objects are skipped (logged with -v).
  std::optional<Reply> next(std::chrono::milliseconds timeout);

 private:
  friend class Client;
  struct Queue;
  Events(std::shared_ptr<Queue> queue, std::unique_ptr<bus::Subscription> sub)
      : queue_(std::move(queue)), sub_(std::move(sub)) {}
  std::shared_ptr<Queue> queue_;
  std::unique_ptr<bus::Subscription> sub_;
};

class Client {
 public:
  // Connects at once or throws CliError "cannot connect to NATS at <url>: ...".
  static std::unique_ptr<Client> connect(const ConnectOptions& options);
  ~Client();

  // Sends `body` to `subject` and waits up to `timeout` for the answer. Throws CliError when
  // there is no answer (no responders, timeout, connection lost) or it is not a JSON object.
  Reply request(const std::string& subject, const std::string& body, std::chrono::milliseconds timeout);

  // Scatter-gather: publishes `body` once to `subject` with a fresh inbox as the reply subject
  // and collects every reply that arrives within `window` (a subject served without a queue
  // group, as $SRV.STATS is, gets one reply from each subscriber). Returns early once `max`
  // replies arrived (0: no limit), or at once when NATS reports that nobody serves the subject.
  // Nobody answering is not an error: the list is empty. Replies that are not JSON objects are
  // skipped (logged with -v). Throws CliError only when the request cannot be sent.
  std::vector<Reply> gather(const std::string& subject, std::string_view body,
                            std::chrono::milliseconds window = kDefaultGatherWindow, std::size_t max = 0);

  // Subscribes to `subject` and returns once NATS has the subscription, so that whatever is
  // published there after this returns (and after any request sent next) is received. Throws
  // CliError when it cannot subscribe.
  std::unique_ptr<Events> listen(const std::string& subject);

 private:
  explicit Client(std::shared_ptr<bus::Connection> conn, std::string url)
      : conn_(std::move(conn)), url_(std::move(url)) {}
  std::shared_ptr<bus::Connection> conn_;
  std::string url_;
};

}  // namespace mcpd::mcpctl
