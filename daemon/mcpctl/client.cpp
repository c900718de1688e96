// NATS request/reply with mcpd for mcpctl: see client.hpp.
#include "client.hpp"

#include "args.hpp"

#include <spdlog/spdlog.h>

#include <cctype>
#include <condition_variable>
#include <deque>
#include <mutex>

namespace mcpd::mcpctl {
namespace {

// A message's body as a Reply, or nullopt (logged with -v) when it is not a JSON object.
std::optional<Reply> parse_message(std::string_view data, std::string_view subject) {
  Reply r;
  r.raw = std::string(data);
  r.body = Json::parse(r.raw, nullptr, /*allow_exceptions=*/false);
  if (r.body.is_discarded() || !r.body.is_object()) {
    spdlog::debug("ignoring a message on {} that is not a JSON object: {}", subject, r.raw.substr(0, 200));
    return std::nullopt;
  }
  return r;
}

// What to do about a refused connection: for a refused login, where the login came from.
std::string connect_hint(const ConnectOptions& options, const std::string& reason) {
  std::string lower = reason;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower.find("authorization") == std::string::npos)
    return "is mcpd running? set --nats or MCPD_NATS_URL" +
           (options.login_file_problem.empty() ? "" : "; the local node's " + options.login_file_problem);
  if (!options.login_file_problem.empty())
    return "the NATS server requires a login, and the local node's " + options.login_file_problem;
  if (!options.login_file.empty())
    return "the login of the local node's credentials file " + options.login_file +
           " was refused: is that mcpd running on this server? Otherwise give --user/--password, --token, --creds "
           "or --nkey";
  if (!options.user.empty() || !options.token.empty() || !options.creds_file.empty() || !options.nkey_seed_file.empty())
    return "the NATS server refused this login: check --user/--password, --token, --creds or --nkey and the "
           "MCPD_NATS_* variables";
  return "the NATS server requires a login: give --user/--password, --token, --creds or --nkey (or the MCPD_NATS_* "
         "variables); for a local mcpd's embedded nats-server, set MCPD_STATE_DIR to the directory of its catalog";
}

}  // namespace

std::unique_ptr<Client> Client::connect(const ConnectOptions& options) {
  bus::Options o;
  o.servers = {options.url};
  o.name = "mcpctl";
  o.user = options.user;
  o.password = options.password;
  o.token = options.token;
  o.creds_file = options.creds_file;
  o.nkey_seed_file = options.nkey_seed_file;
  o.tls_ca_file = options.tls_ca_file;
  o.tls_cert_file = options.tls_cert_file;
  o.tls_key_file = options.tls_key_file;
  // A command-line tool answers at once: no connecting in the background, no reconnecting.
  o.retry_on_failed_connect = false;
  o.max_reconnect = 0;
  o.connect_timeout = options.connect_timeout;
  o.delivery_threads = 1;
  if (!options.login_file.empty()) spdlog::debug("logging in with the user and password of {}", options.login_file);
  auto conn = bus::Connection::connect(std::move(o));
  if (!conn.ok()) {
    // The bus says "cannot connect to <urls>: <reason>"; keep the reason only (URLs hold no ": ").
    std::string reason = conn.error().message;
    if (auto colon = reason.find(": "); reason.starts_with("cannot connect to ") && colon != std::string::npos)
      reason.erase(0, colon + 2);
    throw failure("cannot connect to NATS at " + options.url + ": " + reason + " (" + connect_hint(options, reason) + ")");
  }
  return std::unique_ptr<Client>(new Client(std::move(conn).value(), options.url));
}

Client::~Client() {
  if (conn_) conn_->close();
}

Reply Client::request(const std::string& subject, const std::string& body, std::chrono::milliseconds timeout) {
  auto reply = conn_->request(subject, body, timeout);
  if (!reply.ok()) {
    const Error& e = reply.error();
    if (e.code == Errc::timeout)
      throw failure("timed out after " + std::to_string(timeout.count()) + " ms waiting for " + subject +
                    " (mcpd may still be working on it; a longer --timeout waits longer)");
    if (bus::is_no_responders(e))
      throw failure("no mcpd is serving " + subject + " (is mcpd running and connected to this NATS, " + url_ +
                    ", with the same subject prefix? see --prefix)");
    throw failure(e.message);
  }
  Reply out;
  out.raw = std::string(reply.value().data());
  out.body = Json::parse(out.raw, nullptr, /*allow_exceptions=*/false);
  if (out.body.is_discarded() || !out.body.is_object()) {
    std::string shown = out.raw.size() > 200 ? out.raw.substr(0, 200) + "..." : out.raw;
    throw failure("the reply on " + subject + " is not a JSON object (is something other than mcpd answering?): " +
                  shown);
  }
  return out;
}

std::vector<Reply> Client::gather(const std::string& subject, std::string_view body, std::chrono::milliseconds window,
                                  std::size_t max) {
  // Filled on nats.c's delivery thread, read here; shared so that a late handler never outlives it.
  struct Inbox {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<Reply> replies;
    bool no_responders = false;
  };
  auto inbox = std::make_shared<Inbox>();
  const std::string reply_subject = conn_->new_inbox();
  auto sub = conn_->subscribe(reply_subject, [inbox, subject](bus::Message m) {
    if (m.data().empty()) {
      // NATS answers a request nobody serves with an empty message carrying "Status: 503".
      if (m.header("Status") == "503") {
        std::lock_guard lock(inbox->mu);
        inbox->no_responders = true;
        inbox->cv.notify_all();
      }
      return;
    }
    auto r = parse_message(m.data(), subject);
    if (!r) return;
    std::lock_guard lock(inbox->mu);
    inbox->replies.push_back(std::move(*r));
    inbox->cv.notify_all();
  });
  if (!sub.ok()) throw failure("cannot subscribe to " + reply_subject + ": " + sub.error().message);
  // The subscription goes to the server before the request does (one connection keeps order).
  if (auto sent = conn_->publish(subject, body, {}, reply_subject); !sent.ok())
    throw failure("cannot send to " + subject + ": " + sent.error().message);
  {
    std::unique_lock lock(inbox->mu);
    inbox->cv.wait_for(lock, window, [&] { return inbox->no_responders || (max > 0 && inbox->replies.size() >= max); });
  }
  sub.value()->unsubscribe();  // waits for a handler still running; none runs after it
  std::vector<Reply> replies = std::move(inbox->replies);
  if (max > 0 && replies.size() > max) replies.resize(max);
  return replies;
}

// Filled on nats.c's delivery thread, taken by next(); shared so that a late handler never
// outlives it.
struct Events::Queue {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Reply> messages;
};

Events::~Events() {
  if (sub_) sub_->unsubscribe();  // waits for a handler still running
}

std::optional<Reply> Events::next(std::chrono::milliseconds timeout) {
  std::unique_lock lock(queue_->mu);
  if (!queue_->cv.wait_for(lock, timeout, [&] { return !queue_->messages.empty(); })) return std::nullopt;
  Reply r = std::move(queue_->messages.front());
  queue_->messages.pop_front();
  return r;
}

std::unique_ptr<Events> Client::listen(const std::string& subject) {
  auto queue = std::make_shared<Events::Queue>();
  auto sub = conn_->subscribe(subject, [queue, subject](bus::Message m) {
    auto r = parse_message(m.data(), subject);
    if (!r) return;
    std::lock_guard lock(queue->mu);
    queue->messages.push_back(std::move(*r));
    queue->cv.notify_all();
  });
  if (!sub.ok()) throw failure("cannot subscribe to " + subject + ": " + sub.error().message);
  // Once the server has processed the SUB, nothing published after is missed.
  if (auto flushed = conn_->flush(std::chrono::seconds(5)); !flushed.ok())
    throw failure("cannot subscribe to " + subject + ": " + flushed.error().message);
  return std::unique_ptr<Events>(new Events(std::move(queue), std::move(sub).value()));
}

}  // namespace mcpd::mcpctl
