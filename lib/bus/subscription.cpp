// Subscription: the handler trampolines nats.c calls, and the waits that make destroying a
// Subscription safe while messages are in flight.
#include "bus/connection.hpp"
#include "bus/nats_internal.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <climits>
#include <exception>

namespace mcpd::bus {
namespace detail {

void on_message(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  CallbackScope scope;
  auto* st = static_cast<SubscriptionState*>(closure);
  Message m = MessageAccess::wrap(msg);  // owns msg from here on, whatever the handler does
  // An exception must not unwind into C code: log it and keep the subscription going.
  try {
    st->handler(std::move(m));
  } catch (const std::exception& e) {
    spdlog::error("[nats] handler for '{}' threw: {}", st->subject, e.what());
  } catch (...) {
    spdlog::error("[nats] handler for '{}' threw a non-standard exception", st->subject);
  }
}

void on_complete(void* closure) {
  CallbackScope scope;
  auto* st = static_cast<SubscriptionState*>(closure);
  // nats.c never touches `closure` again after this call. Release what the handler captured
  // now rather than when the Subscription object goes (it may be kept after a drain).
  MessageHandler handler;
  std::shared_ptr<SubscriptionState> keep;
  {
    std::lock_guard lock(st->mu);
    st->completed = true;
    handler = std::move(st->handler);
    keep = std::move(st->self);
  }
  st->cv.notify_all();
}

}  // namespace detail

Subscription::Subscription(Key, std::shared_ptr<Connection> conn, natsSubscription* sub,
                           std::shared_ptr<detail::SubscriptionState> state)
    : conn_(std::move(conn)), sub_(sub), state_(std::move(state)) {}

Subscription::~Subscription() {
  unsubscribe();
  natsSubscription_Destroy(sub_);
}

void Subscription::drain(Duration timeout) {
  natsStatus s = natsSubscription_DrainTimeout(sub_, timeout.count() > 0 ? timeout.count() : 1);
  if (s != NATS_OK && s != NATS_INVALID_SUBSCRIPTION)  // already closed: nothing to drain
    spdlog::warn("[nats] cannot drain subscription '{}': {}", subject(), natsStatus_GetText(s));
}

bool Subscription::wait_drained(Duration timeout) {
  std::unique_lock lock(state_->mu);
  return state_->cv.wait_for(lock, timeout, [&] { return state_->completed; });
}

void Subscription::unsubscribe() {
  // Fails harmlessly when the subscription or its connection is already closed; in every case
  // the subscription is closed afterwards and nats.c will call on_complete.
  (void)natsSubscription_Unsubscribe(sub_);
  if (detail::in_nats_callback()) return;  // waiting here could block the very thread we wait for
  std::unique_lock lock(state_->mu);
  while (!state_->cv.wait_for(lock, std::chrono::seconds(5), [&] { return state_->completed; }))
    spdlog::warn("[nats] still waiting for the handler of '{}' to return (handlers must not block)", subject());
}

const std::string& Subscription::subject() const { return state_->subject; }

const std::string& Subscription::queue_group() const { return state_->queue; }

std::int64_t Subscription::dropped() const {
  int64_t n = 0;
  return natsSubscription_GetDropped(sub_, &n) == NATS_OK ? n : 0;
}

Result<std::unique_ptr<Subscription>> Connection::subscribe(const std::string& subject, const std::string& queue_group,
                                                            MessageHandler handler) {
  if (!handler) return make_error(Errc::invalid_request, "subscribe to '" + subject + "': no handler");
  auto st = std::make_shared<detail::SubscriptionState>();
  st->handler = std::move(handler);
  st->subject = subject;
  st->queue = queue_group;
  st->self = st;

  natsConnection* nc = impl_->nc;
  // Held so that close()/drain() cannot close the subscription between its creation and the
  // registration of its completion callback (then nobody would tell us the handler is done).
  std::lock_guard lifecycle(impl_->lifecycle);
  natsSubscription* sub = nullptr;
  natsStatus s = queue_group.empty()
                     ? natsConnection_Subscribe(&sub, nc, subject.c_str(), detail::on_message, st.get())
                     : natsConnection_QueueSubscribe(&sub, nc, subject.c_str(), queue_group.c_str(),
                                                     detail::on_message, st.get());
  if (s != NATS_OK) {
    st->self.reset();  // nats.c never saw it
    return detail::status_error(s, "cannot subscribe to '" + subject + "'");
  }
  s = natsSubscription_SetOnCompleteCB(sub, detail::on_complete, st.get());
  if (s != NATS_OK) {
    // Only if nats.c closed the connection by itself (reconnect attempts exhausted) in between:
    // it may still be running the handler and will not say when it is done, so `st` keeps
    // itself alive (a deliberate, bounded leak) rather than risk a use after free.
    natsSubscription_Destroy(sub);
    return detail::status_error(s, "cannot subscribe to '" + subject + "'");
  }
  auto clamp = [](std::int64_t v) { return v <= 0 ? -1 : static_cast<int>(std::min<std::int64_t>(v, INT_MAX)); };
  const Options& o = impl_->options;
  (void)natsSubscription_SetPendingLimits(sub, clamp(o.pending_msgs_limit), clamp(o.pending_bytes_limit));
  return std::make_unique<Subscription>(Subscription::Key{}, shared_from_this(), sub, std::move(st));
}

}  // namespace mcpd::bus
