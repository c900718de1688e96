// Private to lib/bus: the one place (with the .cpp files here) that includes <nats/nats.h>.
// Turns nats.c status codes into mcpd Errors, wraps raw natsMsg pointers into Messages, and
// marks the threads on which nats.c is running one of our callbacks (where blocking waits for
// nats.c's own threads would deadlock).
#pragma once

#include "bus/connection.hpp"
#include "bus/message.hpp"
#include "common/error.hpp"

#include <nats/nats.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>

namespace mcpd::bus::detail {

struct MessageAccess {
  static Message wrap(natsMsg* msg) { return Message(msg); }
  static natsMsg* raw(const Message& m) { return m.msg_; }
};

// The mcpd error code a nats.c status stands for.
Errc errc_for(natsStatus s);

// "<what>: <status text>", with nats.c's thread-local detail appended when it adds something
// (e.g. "Authorization Violation"). Call right after the failing nats.c call, on its thread.
Error status_error(natsStatus s, std::string_view what);

// True while this thread is inside a callback we gave nats.c (message handler, completion,
// connection events). Code that would wait for nats.c's threads must not wait here.
bool in_nats_callback();

class CallbackScope {
 public:
  CallbackScope();
  ~CallbackScope();
  CallbackScope(const CallbackScope&) = delete;
  CallbackScope& operator=(const CallbackScope&) = delete;
};

// Builds a message to publish with headers; nullptr plus `err` on failure.
natsMsg* make_msg(const char* subject, const char* reply, std::string_view data, const Headers& headers,
                  natsStatus& err);

// What a subscription's callbacks need. nats.c holds a raw pointer to it until it calls
// on_complete (after the handler returned for the last time), so it keeps itself alive through
// `self` until then; the Subscription object holds a second reference.
struct SubscriptionState {
  MessageHandler handler;
  std::string subject;
  std::string queue;
  std::mutex mu;
  std::condition_variable cv;
  bool completed = false;
  std::shared_ptr<SubscriptionState> self;
};

// The natsMsgHandler and natsOnCompleteCB of every subscription; closure = SubscriptionState*.
void on_message(natsConnection* nc, natsSubscription* sub, natsMsg* msg, void* closure);
void on_complete(void* closure);

// Connection events, for the user and the log. nats.c calls back with a raw pointer to it until
// its closed callback, which is always the last one, so it keeps itself alive through `self`
// until then (the Connection may be gone by the time nats.c's event thread gets there).
struct ConnectionEvents {
  std::string name;
  Duration reconnect_wait{}, reconnect_wait_max{}, reconnect_jitter{};
  std::minstd_rand rng{std::random_device{}()};  // reconnect jitter; only the reconnect thread uses it
  std::atomic<bool> closing{false};              // we closed it: the disconnect that follows is expected
  std::mutex mu;
  std::condition_variable cv;
  std::function<void()> on_disconnected, on_reconnected;
  std::string last_url;
  bool closed = false;
  // Slow-consumer reports per subject, to log one line per episode (see on_error).
  struct SlowConsumer {
    std::chrono::steady_clock::time_point last_report, last_log;
  };
  std::unordered_map<std::string, SlowConsumer> slow;
  std::shared_ptr<ConnectionEvents> self;
};

}  // namespace mcpd::bus::detail

namespace mcpd::bus {

struct Connection::Impl {
  Options options;
  natsConnection* nc = nullptr;
  std::shared_ptr<detail::ConnectionEvents> events;
  // Serialises subscribe() against close()/drain(): see Connection::subscribe.
  std::mutex lifecycle;
  // Key-value operations on this connection that failed (not conflicts or misses): metrics.
  std::atomic<std::uint64_t> kv_errors{0};
};

namespace detail {
// The nats.c handle behind a Connection, for the other parts of lib/bus (JetStream KV).
struct ConnectionAccess {
  static natsConnection* raw(const Connection& c) { return c.impl_->nc; }
  static void count_kv_error(const Connection& c) { c.impl_->kv_errors.fetch_add(1, std::memory_order_relaxed); }
};
}  // namespace detail

}  // namespace mcpd::bus
