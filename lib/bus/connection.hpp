// The bus: one NATS connection and what mcpd does over it — publish (with headers and a reply
// subject), subscribe (optionally in a queue group), blocking request/reply, drain, and
// connection events — as RAII C++ over nats.c, which no user of this header sees.
//
// Threading: every method may be called from any thread. Message handlers and connection
// callbacks run on nats.c's threads and must not block: parse, hand the work off, return, and
// answer later (copy the reply subject) from wherever the work completes.
//
// Lifetimes: a Subscription keeps its Connection alive. Destroying a Subscription (or calling
// unsubscribe()) returns only when its handler is no longer running and never will again, so a
// handler may capture references to objects that outlive the Subscription. The exception is
// doing so from inside a nats.c callback: there it cannot wait (that would deadlock nats.c's
// thread), the handler's state is then released by nats.c when it is done with it.
#pragma once

#include "bus/message.hpp"
#include "common/error.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mcpd::bus {

using Duration = std::chrono::milliseconds;

struct Options {
  // "nats://host:port" (or tls://); an entry may hold several comma-separated URLs.
  // Empty: nats://127.0.0.1:4222.
  std::vector<std::string> servers;
  std::string name = "mcpd";  // connection name, shown by the server's monitoring
  // Authentication; empty fields are unused. nkey_seed_file: a user NKey seed ("SU...", bare or in
  // a -----BEGIN USER NKEY SEED----- block); its public key is derived from it, so nkey_public may
  // stay empty (if set, it must match the seed's).
  std::string user, password, token, creds_file, nkey_seed_file, nkey_public;
  // TLS is used when required or when any file is given (or a URL is tls://).
  std::string tls_ca_file, tls_cert_file, tls_key_file;
  bool tls_required = false;
  // Reconnection: exponential backoff from reconnect_wait up to reconnect_wait_max, plus a random
  // jitter up to reconnect_jitter so that a fleet does not reconnect in lockstep.
  Duration reconnect_wait{250};
  Duration reconnect_wait_max{2000};
  Duration reconnect_jitter{100};
  int max_reconnect = -1;  // attempts per server; -1: forever
  Duration connect_timeout{2000};
  // Start while NATS is down: connect() returns once a first attempt failed (at once when the
  // port is closed, after connect_timeout when the host does not answer) and keeps trying.
  bool retry_on_failed_connect = true;
  // Size of nats.c's shared delivery pool. Library-wide, and it never shrinks.
  int delivery_threads = 2;
  // Per subscription: messages waiting for the handler beyond these are dropped (and logged).
  std::int64_t pending_msgs_limit = 65536;
  std::int64_t pending_bytes_limit = std::int64_t{64} << 20;
};

// Runs on a nats.c delivery thread; messages of one subscription arrive one at a time, in order.
using MessageHandler = std::function<void(Message)>;

namespace detail {
struct SubscriptionState;
struct ConnectionAccess;  // nats_internal.hpp: the natsConnection* for the rest of lib/bus (kv.cpp)
}

class Connection;

// Interest in a subject, delivered to a handler until unsubscribed, drained or destroyed.
// Owned by one thread at a time.
class Subscription {
  struct Key {
    explicit Key() = default;
  };

 public:
  Subscription(Key, std::shared_ptr<Connection> conn, natsSubscription* sub,
               std::shared_ptr<detail::SubscriptionState> state);
  ~Subscription();  // unsubscribe(), see there
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;

  // Stops new messages and lets those already queued be handled, then closes. Returns at once;
  // after `timeout` whatever is still queued is dropped. Do not call while the connection drains.
  void drain(Duration timeout = std::chrono::seconds(30));
  // Waits until the subscription is closed (after drain(), unsubscribe() or the connection
  // closing) and its handler has returned for the last time. False if `timeout` passed first.
  bool wait_drained(Duration timeout);
  // Stops delivery now; queued messages are dropped. Waits as the destructor does.
  void unsubscribe();

  const std::string& subject() const;
  const std::string& queue_group() const;
  // Messages dropped because the handler fell behind the pending limits.
  std::int64_t dropped() const;

 private:
  friend class Connection;
  std::shared_ptr<Connection> conn_;  // kept alive: nats.c needs it until we destroy sub_
  natsSubscription* sub_;
  std::shared_ptr<detail::SubscriptionState> state_;
};

class Connection : public std::enable_shared_from_this<Connection> {
  struct Impl;
  struct Key {
    explicit Key() = default;
  };

 public:
  // Connects. With retry_on_failed_connect, returns even if NATS is down and connects in the
  // background (on_reconnected fires then). Fails with invalid_request on a bad option, or
  // unavailable "cannot connect to nats://...: <reason>".
  static Result<std::shared_ptr<Connection>> connect(Options options);

  Connection(Key, std::unique_ptr<Impl> impl);
  // Closes, then waits for nats.c's last callback unless called on a nats.c thread.
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // An empty queue_group is a plain subscription; with one, each message goes to one member.
  Result<std::unique_ptr<Subscription>> subscribe(const std::string& subject, const std::string& queue_group,
                                                  MessageHandler handler);
  Result<std::unique_ptr<Subscription>> subscribe(const std::string& subject, MessageHandler handler) {
    return subscribe(subject, std::string(), std::move(handler));
  }

  // Sends at once (no batching). While disconnected, messages are buffered until reconnected.
  Status publish(const std::string& subject, std::string_view data, const Headers& headers = {},
                               const std::string& reply = {});
  // Answers a request: publishes to its reply subject. Fails (nothing sent) if there is no
  // reply subject or the publish failed.
  Status respond(std::string_view reply_subject, std::string_view data, const Headers& headers = {});
  // Blocking request/reply. Fails fast with unavailable "no responders for <subject>" when
  // nobody serves the subject (is_no_responders() tells that apart), or when not connected;
  // timeout when no answer came in time.
  Result<Message> request(const std::string& subject, std::string_view data, Duration timeout,
                          const Headers& headers = {});

  // A fresh unique subject to receive replies on.
  std::string new_inbox();
  bool connected() const;
  bool closed() const;
  // The server in use, or empty when not connected.
  std::string connected_url() const;
  // Waits until the server has processed everything sent so far.
  Status flush(Duration timeout);
  // Drains every subscription (queued messages are still handled), flushes, then closes.
  // Blocks until closed or `timeout` passed (then closes anyway).
  void drain(Duration timeout);
  // Closes now; subscriptions stop, blocked requests fail. Idempotent.
  void close();

  // Called on nats.c's event thread when the connection is lost (not when we close it), and
  // when it is (re)established after being down — including the first connect made in the
  // background. Both are also logged. Set them right after connect(), then look at connected()
  // if the current state matters: an event that came in between is not replayed.
  void on_disconnected(std::function<void()> callback);
  void on_reconnected(std::function<void()> callback);

  // The largest payload the server accepts (0 until first connected).
  std::int64_t max_payload() const;
  struct Stats {
    std::uint64_t in_msgs = 0, out_msgs = 0, in_bytes = 0, out_bytes = 0, reconnects = 0;
    std::uint64_t kv_errors = 0;  // key-value operations that failed (conflicts and misses are not failures)
  };
  Stats stats() const;
  const std::string& name() const;

 private:
  friend struct detail::ConnectionAccess;
  std::unique_ptr<Impl> impl_;
};

// True if `error` is request()'s "no responders": NATS knew at once that nobody serves the
// subject (as for a process that died and whose connection the server has dropped), unlike
// "not connected" or a timeout, which say nothing about the other side.
bool is_no_responders(const Error& error);

// nats.c's library-wide state (delivery pool, timers, event thread) for the life of the
// process: construct one (only one) at the top of main(), before any Connection. Its destructor
// (or shutdown()) is the last step of nats.c's shutdown order, so every Connection and
// Subscription must be gone by then; never end it on a nats.c thread. Without one, nats.c
// cleans up at exit by itself.
class Library {
 public:
  Library();  // throws std::runtime_error if nats.c cannot initialise
  ~Library();
  Library(const Library&) = delete;
  Library& operator=(const Library&) = delete;

  // Tears nats.c down and waits up to `timeout` for its threads. False if they did not finish,
  // which means a nats.c object is still alive. Idempotent.
  bool shutdown(Duration timeout = std::chrono::seconds(5));

 private:
  bool open_ = false;
  bool ok_ = true;
};

}  // namespace mcpd::bus
