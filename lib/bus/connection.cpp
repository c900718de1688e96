// Connection: options, connection events, publish and request/reply over nats.c.
#include "bus/connection.hpp"

#include "bus/nats_internal.hpp"
#include "bus/nkey.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <climits>
#include <exception>
#include <stdexcept>

namespace mcpd::bus {
namespace {

using detail::ConnectionEvents;

// Splits "a,b" entries and trims blanks, so a config value or an environment variable can hold
// the whole list in one string.
std::vector<std::string> split_servers(const std::vector<std::string>& in) {
  std::vector<std::string> out;
  for (const auto& entry : in) {
    std::size_t start = 0;
    while (start <= entry.size()) {
      std::size_t comma = entry.find(',', start);
      if (comma == std::string::npos) comma = entry.size();
      std::string url = entry.substr(start, comma - start);
      auto first = url.find_first_not_of(" \t");
      auto last = url.find_last_not_of(" \t");
      if (first != std::string::npos) out.push_back(url.substr(first, last - first + 1));
      start = comma + 1;
    }
  }
  if (out.empty()) out.emplace_back("nats://127.0.0.1:4222");
  return out;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) (out.empty() ? out : out += ",") += s;
  return out;
}

std::string url_of(natsConnection* nc) {
  char buf[512] = {0};
  if (natsConnection_GetConnectedUrl(nc, buf, sizeof buf) != NATS_OK) return {};
  return buf;
}

// Runs a user callback; an exception must not unwind into nats.c.
void fire(ConnectionEvents* ev, std::function<void()> ConnectionEvents::*which) {
  std::function<void()> cb;
  {
    std::lock_guard lock(ev->mu);
    cb = ev->*which;
  }
  if (!cb) return;
  try {
    cb();
  } catch (const std::exception& e) {
    spdlog::error("[nats {}] connection callback threw: {}", ev->name, e.what());
  } catch (...) {
    spdlog::error("[nats {}] connection callback threw a non-standard exception", ev->name);
  }
}

// The first connect, when connect() returned before NATS was reachable.
void on_connected(natsConnection* nc, void* closure) {
  detail::CallbackScope scope;
  auto* ev = static_cast<ConnectionEvents*>(closure);
  std::string url = url_of(nc);
  spdlog::info("[nats {}] connected to {}", ev->name, url);
  {
    std::lock_guard lock(ev->mu);
    ev->last_url = url;
  }
  fire(ev, &ConnectionEvents::on_reconnected);
}

void on_disconnected(natsConnection*, void* closure) {
  detail::CallbackScope scope;
  auto* ev = static_cast<ConnectionEvents*>(closure);
  std::string url;
  {
    std::lock_guard lock(ev->mu);
    url = ev->last_url;
  }
  if (ev->closing) {  // we closed it: expected, and not news to the user
    spdlog::debug("[nats {}] disconnected from {} (closing)", ev->name, url);
    return;
  }
  spdlog::warn("[nats {}] disconnected from {}; reconnecting", ev->name, url);
  fire(ev, &ConnectionEvents::on_disconnected);
}

void on_reconnected(natsConnection* nc, void* closure) {
  detail::CallbackScope scope;
  auto* ev = static_cast<ConnectionEvents*>(closure);
  std::string url = url_of(nc);
  spdlog::info("[nats {}] reconnected to {}", ev->name, url);
  {
    std::lock_guard lock(ev->mu);
    ev->last_url = url;
  }
  fire(ev, &ConnectionEvents::on_reconnected);
}

// nats.c's last callback for a connection: after it, `closure` is never used again.
void on_closed(natsConnection* nc, void* closure) {
  detail::CallbackScope scope;
  auto* ev = static_cast<ConnectionEvents*>(closure);
  if (ev->closing) {
    spdlog::info("[nats {}] connection closed", ev->name);
  } else {
    const char* why = nullptr;
    natsConnection_GetLastError(nc, &why);
    spdlog::error("[nats {}] connection closed by the library (reconnect attempts exhausted?): {}", ev->name,
                  why && *why ? why : "no error recorded");
  }
  std::shared_ptr<ConnectionEvents> keep;
  {
    std::lock_guard lock(ev->mu);
    ev->closed = true;
    keep = std::move(ev->self);
  }
  ev->cv.notify_all();
}

// nats.c reports a slow consumer each time a drop follows an accepted message, so a handler
// hovering at its pending limit would be reported on nearly every message. An episode here is a
// run of reports less than kSlowQuiet apart: logged when it starts, then at most every
// kSlowRepeat while it lasts, with the running total of dropped messages.
constexpr auto kSlowQuiet = std::chrono::seconds(5);
constexpr auto kSlowRepeat = std::chrono::seconds(30);

void on_error(natsConnection* nc, natsSubscription* sub, natsStatus err, void* closure) {
  detail::CallbackScope scope;
  auto* ev = static_cast<ConnectionEvents*>(closure);
  if (err == NATS_SLOW_CONSUMER) {
    const char* raw = sub ? natsSubscription_GetSubject(sub) : nullptr;
    std::string subject = raw ? raw : "?";
    int64_t dropped = 0;
    if (sub) (void)natsSubscription_GetDropped(sub, &dropped);
    auto now = std::chrono::steady_clock::now();
    bool started = false, still = false;
    {
      std::lock_guard lock(ev->mu);
      auto& sc = ev->slow[subject];
      started = now - sc.last_report > kSlowQuiet;
      still = !started && now - sc.last_log >= kSlowRepeat;
      sc.last_report = now;
      if (started || still) sc.last_log = now;
    }
    if (started)
      spdlog::warn("[nats {}] slow consumer on '{}': its handler fell behind, messages are being dropped ({} so far)",
                   ev->name, subject, dropped);
    else if (still)
      spdlog::warn("[nats {}] slow consumer on '{}': still dropping messages ({} so far)", ev->name, subject, dropped);
    return;
  }
  const char* text = nullptr;
  natsConnection_GetLastError(nc, &text);
  spdlog::error("[nats {}] asynchronous error: {}{}{}", ev->name, natsStatus_GetText(err), text && *text ? ": " : "",
                text ? text : "");
}

void on_lame_duck(natsConnection*, void* closure) {
  detail::CallbackScope scope;
  auto* ev = static_cast<ConnectionEvents*>(closure);
  spdlog::warn("[nats {}] the server entered lame-duck mode; it will close this connection soon", ev->name);
}

// nats.c 3.4 only waits a constant reconnect_wait (+ jitter) between rounds; this grows the
// wait exponentially so a long outage is not hammered, capped so recovery stays quick.
int64_t reconnect_delay(natsConnection*, int attempts, void* closure) {
  auto* ev = static_cast<ConnectionEvents*>(closure);
  int64_t wait = std::max<int64_t>(1, ev->reconnect_wait.count());
  int64_t cap = std::max<int64_t>(wait, ev->reconnect_wait_max.count());
  for (int i = 1; i < attempts && wait < cap; ++i) wait *= 2;
  wait = std::min(wait, cap);
  int64_t jitter = ev->reconnect_jitter.count();
  if (jitter > 0) wait += static_cast<int64_t>(ev->rng() % static_cast<std::uint64_t>(jitter + 1));
  return wait;
}

struct OptionsDeleter {
  void operator()(natsOptions* o) const { natsOptions_Destroy(o); }
};

// Applies `o` to `opts`; the first failing setter gives the error.
Status configure(natsOptions* opts, const Options& o, const std::vector<std::string>& urls,
                               ConnectionEvents* ev) {
  natsStatus s = NATS_OK;
  std::string step;
  auto set = [&](const char* what, auto&& call) {
    if (s == NATS_OK) {
      s = call();
      if (s != NATS_OK) step = what;
    }
  };
  std::vector<const char*> servers;
  for (const auto& u : urls) servers.push_back(u.c_str());
  set("servers", [&] { return natsOptions_SetServers(opts, servers.data(), static_cast<int>(servers.size())); });
  set("name", [&] { return natsOptions_SetName(opts, o.name.c_str()); });
  set("connect timeout", [&] { return natsOptions_SetTimeout(opts, std::max<int64_t>(1, o.connect_timeout.count())); });
  set("max reconnect", [&] { return natsOptions_SetMaxReconnect(opts, o.max_reconnect); });
  set("reconnect delay", [&] { return natsOptions_SetCustomReconnectDelay(opts, reconnect_delay, ev); });
  // Latency: a publish otherwise waits for nats.c's flusher thread (~1 ms vs ~60 µs a round trip).
  set("send asap", [&] { return natsOptions_SetSendAsap(opts, true); });
  set("global delivery", [&] { return natsOptions_UseGlobalMessageDelivery(opts, true); });
  // A reply cannot reach us across a reconnect anyway: fail blocked requests at once.
  set("fail requests on disconnect", [&] { return natsOptions_SetFailRequestsOnDisconnect(opts, true); });
  set("ip order", [&] { return natsOptions_IPResolutionOrder(opts, 46); });  // "localhost": try IPv4 first
  if (o.pending_msgs_limit > 0)
    set("max pending", [&] {
      return natsOptions_SetMaxPendingMsgs(opts, static_cast<int>(std::min<std::int64_t>(o.pending_msgs_limit, INT_MAX)));
    });
  if (o.retry_on_failed_connect)
    set("retry on failed connect", [&] { return natsOptions_SetRetryOnFailedConnect(opts, true, on_connected, ev); });
  set("error handler", [&] { return natsOptions_SetErrorHandler(opts, on_error, ev); });
  set("closed callback", [&] { return natsOptions_SetClosedCB(opts, on_closed, ev); });
  set("disconnected callback", [&] { return natsOptions_SetDisconnectedCB(opts, on_disconnected, ev); });
  set("reconnected callback", [&] { return natsOptions_SetReconnectedCB(opts, on_reconnected, ev); });
  set("lame duck callback", [&] { return natsOptions_SetLameDuckModeCB(opts, on_lame_duck, ev); });
  if (!o.user.empty() || !o.password.empty())
    set("user", [&] { return natsOptions_SetUserInfo(opts, o.user.c_str(), o.password.c_str()); });
  if (!o.token.empty()) set("token", [&] { return natsOptions_SetToken(opts, o.token.c_str()); });
  if (!o.creds_file.empty())
    set("creds file", [&] { return natsOptions_SetUserCredentialsFromFiles(opts, o.creds_file.c_str(), nullptr); });
  if (!o.nkey_seed_file.empty()) {
    // nats.c signs with the seed from the file but must be told its public key.
    auto derived = nkey_user_public_for_nats_c(o.nkey_seed_file);
    if (!derived.ok()) return make_error(Errc::invalid_request, "nats: " + derived.error().message);
    if (!o.nkey_public.empty() && o.nkey_public != derived.value())
      return make_error(Errc::invalid_request, "nats: nkey_public " + o.nkey_public +
                                                   " does not match the seed in nkey_seed_file '" + o.nkey_seed_file +
                                                   "', whose public key is " + derived.value());
    set("nkey", [&] { return natsOptions_SetNKeyFromSeed(opts, derived.value().c_str(), o.nkey_seed_file.c_str()); });
  }
  bool tls = o.tls_required || !o.tls_ca_file.empty() || !o.tls_cert_file.empty() || !o.tls_key_file.empty();
  if (tls) set("tls", [&] { return natsOptions_SetSecure(opts, true); });
  if (!o.tls_ca_file.empty())
    set("tls ca file", [&] { return natsOptions_LoadCATrustedCertificates(opts, o.tls_ca_file.c_str()); });
  if (!o.tls_cert_file.empty() || !o.tls_key_file.empty())
    set("tls certificate", [&] {
      return natsOptions_LoadCertificatesChain(opts, o.tls_cert_file.c_str(), o.tls_key_file.c_str());
    });
  if (s == NATS_OK) return {};
  Error e = detail::status_error(s, "nats option '" + step + "'");
  e.code = Errc::invalid_request;
  return e;
}

Error too_large(const std::string& subject, std::size_t size, std::int64_t max) {
  return make_error(Errc::too_large, "message of " + std::to_string(size) + " bytes on '" + subject +
                                        "' exceeds the server's max_payload of " + std::to_string(max) + " bytes");
}

}  // namespace

Result<std::shared_ptr<Connection>> Connection::connect(Options options) {
  std::vector<std::string> urls = split_servers(options.servers);
  std::string target = join(urls);

  if (options.delivery_threads > 0) (void)nats_SetMessageDeliveryPoolSize(options.delivery_threads);

  natsOptions* raw_opts = nullptr;
  if (natsStatus s = natsOptions_Create(&raw_opts); s != NATS_OK)
    return detail::status_error(s, "cannot connect to " + target);
  std::unique_ptr<natsOptions, OptionsDeleter> opts(raw_opts);

  auto ev = std::make_shared<ConnectionEvents>();
  ev->name = options.name;
  ev->reconnect_wait = options.reconnect_wait;
  ev->reconnect_wait_max = options.reconnect_wait_max;
  ev->reconnect_jitter = options.reconnect_jitter;
  ev->self = ev;
  if (auto err = configure(opts.get(), options, urls, ev.get()); !err.ok()) {
    ev->self.reset();
    return err.error();
  }

  natsConnection* nc = nullptr;
  natsStatus s = natsConnection_Connect(&nc, opts.get());  // copies the options
  // nats.c 3.4.1 now and then sends an nkey login without the nonce's signature (seen about once
  // in fifty connects to nats-server 2.9: CONNECT has "nkey" but no "sig"), which the server
  // refuses; the next attempt signs. A wrong seed is refused every time and still fails here.
  for (int retry = 0; retry < 2 && s == NATS_CONNECTION_AUTH_FAILED && !options.nkey_seed_file.empty(); ++retry) {
    spdlog::debug("[nats {}] nkey login refused; trying once more", options.name);
    s = natsConnection_Connect(&nc, opts.get());
  }
  if (s == NATS_OK) {
    std::string url = url_of(nc);
    spdlog::info("[nats {}] connected to {}", options.name, url);
    std::lock_guard lock(ev->mu);
    ev->last_url = url;
  } else if (s == NATS_NOT_YET_CONNECTED) {
    spdlog::warn("[nats {}] cannot reach {} yet; connecting in the background", options.name, target);
    std::lock_guard lock(ev->mu);
    ev->last_url = target;
  } else {
    ev->self.reset();  // no connection object: nats.c calls nothing back
    return detail::status_error(s, "cannot connect to " + target);
  }

  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->nc = nc;
  impl->events = std::move(ev);
  return std::make_shared<Connection>(Key{}, std::move(impl));
}

Connection::Connection(Key, std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Connection::~Connection() {
  std::shared_ptr<ConnectionEvents> ev = impl_->events;
  ev->closing = true;
  natsConnection_Destroy(impl_->nc);  // closes if needed; nats.c then calls on_closed
  // Wait so that no user callback runs after we are gone, except on a nats.c thread (where
  // on_closed may be queued behind us).
  if (detail::in_nats_callback()) return;
  std::unique_lock lock(ev->mu);
  if (!ev->cv.wait_for(lock, std::chrono::seconds(10), [&] { return ev->closed; }))
    spdlog::warn("[nats {}] closed callback still pending after 10 s", ev->name);
}

Status Connection::publish(const std::string& subject, std::string_view data, const Headers& headers,
                                         const std::string& reply) {
  if (data.size() > static_cast<std::size_t>(INT_MAX)) return too_large(subject, data.size(), max_payload());
  natsConnection* nc = impl_->nc;
  natsStatus s = NATS_OK;
  int len = static_cast<int>(data.size());
  if (headers.empty()) {
    s = reply.empty() ? natsConnection_Publish(nc, subject.c_str(), data.data(), len)
                      : natsConnection_PublishRequest(nc, subject.c_str(), reply.c_str(), data.data(), len);
  } else if (natsMsg* m = detail::make_msg(subject.c_str(), reply.empty() ? nullptr : reply.c_str(), data, headers, s)) {
    s = natsConnection_PublishMsg(nc, m);
    natsMsg_Destroy(m);
  }
  if (s == NATS_OK) return {};
  if (s == NATS_MAX_PAYLOAD) return too_large(subject, data.size(), max_payload());
  return detail::status_error(s, "cannot publish to '" + subject + "'");
}

Status Connection::respond(std::string_view reply_subject, std::string_view data, const Headers& headers) {
  if (reply_subject.empty()) return make_error(Errc::invalid_request, "the request has no reply subject");
  return publish(std::string(reply_subject), data, headers);
}

namespace {
// The start of request()'s "no responders" message, which is_no_responders() recognises: one
// spelling for both.
constexpr std::string_view kNoResponders = "no responders for ";
}  // namespace

bool is_no_responders(const Error& error) {
  return error.code == Errc::unavailable && std::string_view(error.message).starts_with(kNoResponders);
}

Result<Message> Connection::request(const std::string& subject, std::string_view data, Duration timeout,
                                    const Headers& headers) {
  natsConnection* nc = impl_->nc;
  // While reconnecting nats.c would buffer the request and wait out the whole timeout.
  if (natsConnection_Status(nc) != NATS_CONN_STATUS_CONNECTED)
    return make_error(Errc::unavailable, "cannot send a request to '" + subject + "': not connected to NATS");
  if (data.size() > static_cast<std::size_t>(INT_MAX)) return too_large(subject, data.size(), max_payload());
  int64_t ms = std::max<int64_t>(1, timeout.count());
  natsMsg* reply = nullptr;
  natsStatus s = NATS_OK;
  if (headers.empty()) {
    s = natsConnection_Request(&reply, nc, subject.c_str(), data.data(), static_cast<int>(data.size()), ms);
  } else if (natsMsg* m = detail::make_msg(subject.c_str(), nullptr, data, headers, s)) {
    s = natsConnection_RequestMsg(&reply, nc, m, ms);
    natsMsg_Destroy(m);
  }
  switch (s) {
    case NATS_OK:
      return detail::MessageAccess::wrap(reply);
    case NATS_NO_RESPONDERS:
      return make_error(Errc::unavailable, std::string(kNoResponders) + subject);
    case NATS_TIMEOUT:
      return make_error(Errc::timeout, "no reply to a request on '" + subject + "' within " + std::to_string(ms) + " ms");
    case NATS_MAX_PAYLOAD:
      return too_large(subject, data.size(), max_payload());
    default:
      return detail::status_error(s, "request on '" + subject + "' failed");
  }
}

std::string Connection::new_inbox() {
  natsInbox* inbox = nullptr;
  if (natsInbox_Create(&inbox) != NATS_OK) return {};
  std::string out(inbox);
  natsInbox_Destroy(inbox);
  return out;
}

bool Connection::connected() const { return natsConnection_Status(impl_->nc) == NATS_CONN_STATUS_CONNECTED; }

bool Connection::closed() const { return natsConnection_IsClosed(impl_->nc); }

std::string Connection::connected_url() const { return url_of(impl_->nc); }

Status Connection::flush(Duration timeout) {
  natsStatus s = natsConnection_FlushTimeout(impl_->nc, std::max<int64_t>(1, timeout.count()));
  if (s == NATS_OK) return {};
  return detail::status_error(s, "flush failed");
}

void Connection::drain(Duration timeout) {
  ConnectionEvents& ev = *impl_->events;
  ev.closing = true;
  natsStatus s;
  {
    std::lock_guard lifecycle(impl_->lifecycle);
    s = natsConnection_DrainTimeout(impl_->nc, std::max<int64_t>(1, timeout.count()));
  }
  if (s != NATS_OK) {
    // Not connected (nothing could be drained) or already closed: just close.
    if (s != NATS_CONNECTION_CLOSED)
      spdlog::info("[nats {}] cannot drain ({}); closing", ev.name, natsStatus_GetText(s));
    close();
    return;
  }
  if (detail::in_nats_callback()) return;
  // nats.c closes the connection itself when the drain completes or its timeout passes.
  std::unique_lock lock(ev.mu);
  if (!ev.cv.wait_for(lock, timeout + std::chrono::seconds(1), [&] { return ev.closed; })) {
    lock.unlock();
    spdlog::warn("[nats {}] drain did not finish in {} ms; closing", ev.name, timeout.count());
    close();
  }
}

void Connection::close() {
  impl_->events->closing = true;
  std::lock_guard lifecycle(impl_->lifecycle);
  natsConnection_Close(impl_->nc);
}

void Connection::on_disconnected(std::function<void()> callback) {
  std::lock_guard lock(impl_->events->mu);
  impl_->events->on_disconnected = std::move(callback);
}

void Connection::on_reconnected(std::function<void()> callback) {
  std::lock_guard lock(impl_->events->mu);
  impl_->events->on_reconnected = std::move(callback);
}

std::int64_t Connection::max_payload() const { return natsConnection_GetMaxPayload(impl_->nc); }

Connection::Stats Connection::stats() const {
  Stats out;
  natsStatistics* st = nullptr;
  if (natsStatistics_Create(&st) != NATS_OK) return out;
  if (natsConnection_GetStats(impl_->nc, st) == NATS_OK) {
    uint64_t in_msgs = 0, in_bytes = 0, out_msgs = 0, out_bytes = 0, reconnects = 0;
    natsStatistics_GetCounts(st, &in_msgs, &in_bytes, &out_msgs, &out_bytes, &reconnects);
    out = Stats{in_msgs, out_msgs, in_bytes, out_bytes, reconnects, 0};
  }
  out.kv_errors = impl_->kv_errors.load(std::memory_order_relaxed);
  natsStatistics_Destroy(st);
  return out;
}

const std::string& Connection::name() const { return impl_->options.name; }

// Opening the library here also registers nats.c's own exit hook now, so C++ destroys this
// object before that hook runs (the reverse order of registration).
Library::Library() {
  natsStatus s = nats_Open(-1);
  if (s != NATS_OK)
    throw std::runtime_error(std::string("cannot initialise nats.c: ") + natsStatus_GetText(s));
  open_ = true;
}

Library::~Library() { shutdown(); }

bool Library::shutdown(Duration timeout) {
  if (!open_) return ok_;
  open_ = false;
  natsStatus s = nats_CloseAndWait(std::max<int64_t>(1, timeout.count()));
  ok_ = s == NATS_OK;
  if (!ok_) spdlog::error("[nats] library shutdown: {} (a connection or subscription is still alive?)", natsStatus_GetText(s));
  return ok_;
}

}  // namespace mcpd::bus
