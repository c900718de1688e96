#include "jsonrpc/peer.hpp"

#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <optional>

namespace mcpd::jsonrpc {

struct Peer::Pending {
  std::string method;
  ResponseCallback done;
  std::unique_ptr<asio::steady_timer> timer;
};

namespace {

std::string excerpt(std::string_view line) {
  constexpr std::size_t kMax = 160;
  if (line.size() <= kMax) return std::string(line);
  return std::string(line.substr(0, kMax)) + "...";
}

Error remote_error(const Json& err) {
  Error e;
  e.code = Errc::internal;
  if (err.is_object()) {
    if (auto it = err.find("code"); it != err.end() && it->is_number_integer()) e.rpc_code = it->get<int>();
    if (auto it = err.find("message"); it != err.end() && it->is_string()) e.message = it->get<std::string>();
  }
  if (e.rpc_code == 0) e.rpc_code = kInternalError;
  // The request itself was refused (bad arguments, no such method): the caller's to fix.
  if (e.rpc_code == kInvalidParams || e.rpc_code == kInvalidRequest || e.rpc_code == kMethodNotFound)
    e.code = Errc::invalid_request;
  if (auto data = err.is_object() ? err.find("data") : err.end();
      data != err.end() && data->is_object() && data->contains(kTransportErrorMember)) {
    // Made by our transport, not the server: it was never reached or its answer was lost, or
    // the answer was over maxMessageBytes.
    auto big = data->find(kTooLargeMember);
    e.code = big != data->end() && *big == true ? Errc::too_large : Errc::unavailable;
  }
  if (e.message.empty()) e.message = "error " + std::to_string(e.rpc_code) + " without a message";
  return e;
}

}  // namespace

std::shared_ptr<Peer> Peer::create(io::Strand strand, std::string name, SendFn send, std::size_t max_json_depth,
                                   SendFn send_alone) {
  return std::shared_ptr<Peer>(
      new Peer(std::move(strand), std::move(name), std::move(send), max_json_depth, std::move(send_alone)));
}

Peer::Peer(io::Strand strand, std::string name, SendFn send, std::size_t max_json_depth, SendFn send_alone)
    : strand_(std::move(strand)),
      name_(std::move(name)),
      send_(std::move(send)),
      send_alone_(std::move(send_alone)),
      max_json_depth_(max_json_depth) {}

Peer::~Peer() = default;

RequestId Peer::request(std::string method, Json params, Duration timeout, ResponseCallback done) {
  const RequestId id = next_id_.fetch_add(1, std::memory_order_relaxed);
  // Serialised and sent on the caller's thread: it spreads the JSON work off the loop, and a
  // request from another thread needs no hand-off to the strand before it is on its way.
  Json msg = {{"jsonrpc", "2.0"}, {"id", id}, {"method", method}};
  if (!params.is_null()) msg["params"] = std::move(params);
  std::string wire = msg.dump(-1, ' ', false, Json::error_handler_t::replace);
  start_request(id, std::move(method), std::move(wire), timeout, std::move(done));
  return id;
}

void Peer::start_request(RequestId id, std::string method, std::string wire, Duration timeout,
                         ResponseCallback done) {
  auto pending = std::make_unique<Pending>();
  pending->method = std::move(method);
  pending->done = std::move(done);
  bool alone = false;
  {
    MutexLock lock(pending_mu_);
    if (closed_.load()) {
      // Callbacks run on the strand, never on the caller's thread.
      asio::post(strand_, [reason = close_reason_, done = std::move(pending->done)] { done(reason); });
      return;
    }
    if (timeout.count() > 0) {
      // Armed before the request is visible in pending_: once it is, only the strand touches it.
      pending->timer = std::make_unique<asio::steady_timer>(strand_, timeout);
      pending->timer->async_wait([weak = weak_from_this(), id, timeout](const std::error_code& ec) {
        auto self = weak.lock();
        if (ec || !self) return;
        std::string method;
        {
          MutexLock lock(self->pending_mu_);
          auto it = self->pending_.find(id);
          if (it == self->pending_.end()) return;
          method = it->second->method;
        }
        self->complete(id, make_error(Errc::timeout, self->name_ + ": " + method + " timed out after " +
                                                         std::to_string(timeout.count()) + " ms"));
        if (self->timeout_hook_) self->timeout_hook_(id, method);
      });
    }
    pending_.emplace(id, std::move(pending));
    in_flight_.store(pending_.size(), std::memory_order_relaxed);
    alone = pending_.size() == 1;
  }
  sent_.fetch_add(1, std::memory_order_relaxed);
  // Alone, it goes out at once; among others, it may share a write with them.
  const SendFn& send = alone && send_alone_ ? send_alone_ : send_;
  if (!send(std::move(wire))) {
    asio::post(strand_, [self = shared_from_this(), id] {
      self->complete(id, make_error(Errc::unavailable, self->name_ + ": cannot send, the connection is closed"));
    });
  }
}

void Peer::complete(RequestId id, Result<Json> outcome) {
  std::unique_ptr<Pending> pending;
  {
    MutexLock lock(pending_mu_);
    auto it = pending_.find(id);
    if (it == pending_.end()) return;
    pending = std::move(it->second);
    pending_.erase(it);
    in_flight_.store(pending_.size(), std::memory_order_relaxed);
  }
  if (pending->timer) pending->timer->cancel();
  pending->done(std::move(outcome));
}

void Peer::notify(std::string method, Json params) {
  Json msg = {{"jsonrpc", "2.0"}, {"method", std::move(method)}};
  if (!params.is_null()) msg["params"] = std::move(params);
  if (closed_.load()) return;
  send_(msg.dump(-1, ' ', false, Json::error_handler_t::replace));
}

void Peer::cancel(RequestId id, Error reason) {
  asio::post(strand_, [self = shared_from_this(), id, reason = std::move(reason)]() mutable {
    self->complete(id, std::move(reason));
  });
}

void Peer::on_request(std::string method, RequestHandler handler) {
  request_handlers_[std::move(method)] = [handler = std::move(handler)](const Json& params, Respond respond) {
    respond(handler(params));
  };
}

void Peer::on_request_async(std::string method, AsyncRequestHandler handler) {
  request_handlers_[std::move(method)] = std::move(handler);
}

void Peer::on_notification(std::string method, NotificationHandler handler) {
  notification_handlers_[std::move(method)] = std::move(handler);
}

void Peer::on_timeout(TimeoutHook hook) { timeout_hook_ = std::move(hook); }

void Peer::receive(std::string_view line) {
  if (line.find_first_not_of(" \t\r") == std::string_view::npos) return;  // blank lines are noise, not errors
  bool too_deep = false;
  auto parsed = json::parse_pruned(line, max_json_depth_, too_deep);
  if (!parsed.ok() || !parsed->is_object()) {
    note_malformed("a line that is not a JSON-RPC message", line);
    return;
  }
  Json& msg = parsed.value();
  if (too_deep) return refuse_too_deep(msg, line);
  const bool has_method = msg.contains("method") && msg["method"].is_string();
  const bool has_id = msg.contains("id") && !msg["id"].is_null();
  if (has_method && has_id) {
    handle_request(msg);
  } else if (has_method) {
    const auto& method = msg["method"].get_ref<const std::string&>();
    auto it = notification_handlers_.find(method);
    if (it != notification_handlers_.end()) {
      static const Json kEmpty = Json::object();
      auto params = msg.find("params");
      it->second(params != msg.end() ? *params : kEmpty);
    } else {
      spdlog::debug("[{}] unhandled notification {}", name_, method);
    }
  } else if (msg.contains("id") && (msg.contains("result") || msg.contains("error"))) {
    handle_response(msg);
  } else {
    note_malformed("a JSON object that is neither request, notification nor response", line);
  }
}

void Peer::refuse_too_deep(const Json& msg, std::string_view line) {
  const std::string what = json::too_deep_message(max_json_depth_);
  note_malformed("a message with " + what, line);  // before the caller hears of it (and may let go of us)
  auto id = msg.find("id");
  const bool response = !msg.contains("method") && (msg.contains("result") || msg.contains("error"));
  if (response && id != msg.end() && id->is_number_integer()) {
    const auto key = id->get<RequestId>();
    std::optional<std::string> method;
    {
      MutexLock lock(pending_mu_);
      if (auto it = pending_.find(key); it != pending_.end()) method = it->second->method;
    }
    if (method) complete(key, make_error(Errc::too_large, name_ + ": the answer to " + *method + " was refused: " + what));
  }
}

void Peer::note_malformed(std::string_view what, std::string_view line) {
  malformed_.fetch_add(1, std::memory_order_relaxed);
  std::uint64_t suppressed = 0;
  if (!malformed_log_.allow(suppressed)) return;
  if (suppressed > 0) {
    spdlog::warn("[{}] ignored {}: {} ({} more such lines not logged)", name_, what, excerpt(line), suppressed);
  } else {
    spdlog::warn("[{}] ignored {}: {}", name_, what, excerpt(line));
  }
}

void Peer::handle_response(Json& msg) {
  const Json& id = msg["id"];
  RequestId key = 0;
  if (id.is_number_integer()) {
    key = id.get<RequestId>();
  } else {
    // We only ever send integer ids; a string id here answers nothing of ours.
    late_.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn("[{}] response with an id we never sent: {}", name_, id.dump());
    return;
  }
  bool known = false;
  {
    MutexLock lock(pending_mu_);
    known = pending_.find(key) != pending_.end();
  }
  if (!known) {
    late_.fetch_add(1, std::memory_order_relaxed);
    spdlog::debug("[{}] dropped a late response to request {}", name_, key);
    return;
  }
  if (auto err = msg.find("error"); err != msg.end()) {
    complete(key, remote_error(*err));
  } else {
    complete(key, Result<Json>(std::move(msg["result"])));
  }
}

void Peer::handle_request(Json& msg) {
  const auto& method = msg["method"].get_ref<const std::string&>();
  auto it = request_handlers_.find(method);
  if (it == request_handlers_.end()) {
    reply(msg["id"], make_error(Errc::invalid_request, "Method not found: " + method, kMethodNotFound));
    return;
  }
  static const Json kEmpty = Json::object();
  auto params = msg.find("params");
  // The answer may come later and from another thread: it goes back through the strand.
  std::weak_ptr<Peer> weak = weak_from_this();
  auto respond = [weak, strand = strand_, id = msg["id"]](Result<Json> outcome) {
    if (strand.running_in_this_thread()) {
      if (auto self = weak.lock()) self->reply(id, std::move(outcome));
      return;
    }
    asio::post(strand, [weak, id, outcome = std::move(outcome)]() mutable {
      if (auto self = weak.lock()) self->reply(id, std::move(outcome));
    });
  };
  it->second(params != msg.end() ? *params : kEmpty, std::move(respond));
}

void Peer::reply(const Json& id, Result<Json> outcome) {
  Json msg = {{"jsonrpc", "2.0"}, {"id", id}};
  if (outcome.ok()) {
    msg["result"] = std::move(outcome).value();
  } else {
    const Error& e = outcome.error();
    msg["error"] = {{"code", e.rpc_code != 0 ? e.rpc_code : kInternalError}, {"message", e.message}};
  }
  if (!closed_.load()) send_(msg.dump(-1, ' ', false, Json::error_handler_t::replace));
}

void Peer::close(Error reason) {
  asio::post(strand_, [self = shared_from_this(), reason = std::move(reason)]() mutable {
    std::unordered_map<RequestId, std::unique_ptr<Pending>> pending;
    {
      MutexLock lock(self->pending_mu_);
      if (self->closed_.load()) return;
      self->close_reason_ = reason;
      self->closed_.store(true);
      pending.swap(self->pending_);
      self->in_flight_.store(0, std::memory_order_relaxed);
    }
    for (auto& [id, p] : pending) {
      if (p->timer) p->timer->cancel();
      p->done(reason);
    }
  });
}

PeerStats Peer::stats() const {
  return PeerStats{malformed_.load(), late_.load(), sent_.load(), in_flight_.load()};
}

}  // namespace mcpd::jsonrpc
