#include "mcp/client_session.hpp"

#include "jsonrpc/peer.hpp"
#include "mcp/protocol.hpp"
#include "mcp/stateless_era.hpp"

#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

namespace mcpd::mcp {

struct ClientSession::PingTimer {
  explicit PingTimer(const io::Strand& s) : timer(s) {}
  asio::steady_timer timer;
};

namespace {
constexpr int kMaxToolPages = 10000;  // a server that pages forever is broken, not large

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

std::shared_ptr<ClientSession> ClientSession::create(std::shared_ptr<transport::Transport> transport,
                                                     SessionOptions options, std::unique_ptr<Lifecycle> lifecycle) {
  return std::shared_ptr<ClientSession>(new ClientSession(std::move(transport), std::move(options), std::move(lifecycle)));
}

ClientSession::ClientSession(std::shared_ptr<transport::Transport> transport, SessionOptions options,
                             std::unique_ptr<Lifecycle> lifecycle)
    : transport_(std::move(transport)), opts_(std::move(options)), lifecycle_(std::move(lifecycle)) {
  std::weak_ptr<transport::Transport> weak_transport = transport_;
  peer_ = jsonrpc::Peer::create(
      transport_->strand(), opts_.name,
      [weak_transport](std::string m) {
        auto t = weak_transport.lock();
        return t && t->send(std::move(m));
      },
      opts_.json_max_depth,
      [weak_transport](std::string m) {
        auto t = weak_transport.lock();
        return t && t->send_now(std::move(m));
      });
  ping_timer_ = std::make_unique<PingTimer>(transport_->strand());
}

ClientSession::~ClientSession() = default;

std::chrono::milliseconds ClientSession::effective(std::chrono::milliseconds t) const {
  return t.count() > 0 ? t : opts_.request_timeout;
}

std::uint64_t ClientSession::malformed_messages() const { return peer_->stats().malformed_lines; }

void ClientSession::on_closed(std::function<void(const Error&)> handler) { closed_cb_ = std::move(handler); }
void ClientSession::on_tools_changed(std::function<void(Tools)> handler) { tools_changed_cb_ = std::move(handler); }

void ClientSession::install_handlers() {
  std::weak_ptr<ClientSession> weak = weak_from_this();
  peer_->on_request("ping", [](const Json&) -> Result<Json> { return Json::object(); });
  for (const char* method : {"sampling/createMessage", "elicitation/create", "roots/list"}) {
    std::string m = method;
    peer_->on_request_async(m, [weak, m](const Json& params, jsonrpc::Peer::Respond respond) {
      RelatedRequestHandler handler;
      if (auto self = weak.lock(); self && params.is_object()) {
        const Json* meta = params.contains("_meta") && params["_meta"].is_object() ? &params["_meta"] : nullptr;
        auto rel = meta ? meta->find(std::string(kRelatedTaskMeta)) : Json::const_iterator{};
        if (meta && rel != meta->end() && rel->is_object() && rel->contains("taskId") && (*rel)["taskId"].is_string()) {
          std::lock_guard lock(self->mu_);
          if (auto it = self->related_.find((*rel)["taskId"].get<std::string>()); it != self->related_.end())
            handler = it->second;
        }
      }
      if (handler) return handler(m, params, std::move(respond));
      if (m == "elicitation/create") return respond(Json{{"action", "decline"}});  // nobody to ask
      respond(make_error(Errc::invalid_request, "mcpd does not offer " + m + " (capability not declared)",
                         jsonrpc::kMethodNotFound));
    });
  }
  peer_->on_notification("notifications/progress", [weak](const Json& params) {
    auto self = weak.lock();
    if (!self || !params.is_object()) return;
    auto token = params.find("progressToken");
    if (token == params.end()) return;
    std::string key = token->is_string() ? token->get<std::string>() : token->dump();
    std::function<void(const Json&)> cb;
    {
      std::lock_guard lock(self->mu_);
      auto it = self->progress_.find(key);
      if (it != self->progress_.end()) cb = it->second;
    }
    if (cb) cb(params);
  });
  peer_->on_notification("notifications/tasks/status", [weak](const Json& params) {
    auto self = weak.lock();
    if (!self || !params.is_object() || !params.contains("taskId") || !params["taskId"].is_string()) return;
    std::function<void(const Json&)> cb;
    {
      std::lock_guard lock(self->mu_);
      if (auto it = self->task_status_.find(params["taskId"].get<std::string>()); it != self->task_status_.end())
        cb = it->second;
    }
    if (cb) cb(params);
  });
  peer_->on_notification("notifications/tools/list_changed", [weak](const Json&) {
    auto self = weak.lock();
    if (!self) return;
    {
      std::lock_guard lock(self->mu_);
      self->tools_stale_ = true;
      ++self->tools_generation_;
    }
    spdlog::info("[{}] server says its tool list changed; refreshing", self->opts_.name);
    self->list_tools([weak](Result<Tools> r) {
      auto s = weak.lock();
      if (s && r.ok() && s->tools_changed_cb_) s->tools_changed_cb_(r.value());
    });
  });
  peer_->on_notification("notifications/message", [weak](const Json& params) {
    if (auto self = weak.lock()) spdlog::debug("[{}] log: {}", self->opts_.name, params.dump());
  });
  peer_->on_timeout([weak](jsonrpc::RequestId id, const std::string& method) {
    auto self = weak.lock();
    // initialize must not be cancelled (the spec says so); the session fails instead. Nor is the
    // era probe: a server of the handshake era that ignored it would not know the request either.
    if (!self || method == "initialize" || self->state_ == SessionState::opening) return;
    self->peer_->notify("notifications/cancelled", {{"requestId", id}, {"reason", "timeout"}});
  });
}

void ClientSession::start(std::function<void(Result<ServerDescription>)> ready) {
  state_ = SessionState::opening;
  install_handlers();
  std::weak_ptr<ClientSession> weak = weak_from_this();
  transport_->start(transport::Transport::Handlers{
      [weak](std::string_view line) {
        if (auto self = weak.lock()) {
          self->last_activity_ns_.store(now_ns(), std::memory_order_relaxed);
          self->peer_->receive(line);
        }
      },
      [weak](const transport::Closed& closed) {
        if (auto self = weak.lock()) self->on_transport_closed(closed);
      }});
  lifecycle_->open(*peer_, opts_.open_timeout, [weak, ready = std::move(ready)](Result<ServerDescription> r) {
    auto self = weak.lock();
    if (!self) return;
    if (!r.ok()) {
      Error e = r.error();
      e.message = "server '" + self->opts_.name + "': " + e.message;
      spdlog::error("{}", e.message);
      self->fail(e);
      ready(std::move(e));
      return;
    }
    if (self->state_ != SessionState::opening) {  // closed while opening
      ready(self->close_reason_.message.empty()
                ? make_error(Errc::unavailable, "server '" + self->opts_.name + "': closed while opening")
                : self->close_reason_);
      return;
    }
    self->server_ = r.value();
    self->stateless_ = is_stateless_protocol_version(self->server_.protocol_version);
    self->state_ = SessionState::ready;
    self->last_activity_ns_.store(now_ns());
    spdlog::info("[{}] session ready: {} {} (protocol {})", self->opts_.name,
                 self->server_.server_info.value("name", "?"), self->server_.server_info.value("version", "?"),
                 self->server_.protocol_version);
    self->schedule_ping();
    ready(std::move(r));
  });
}

void ClientSession::schedule_ping() {
  if (opts_.ping_interval.count() <= 0) return;
  ping_timer_->timer.expires_after(opts_.ping_interval);
  ping_timer_->timer.async_wait([weak = weak_from_this()](const std::error_code& ec) {
    auto self = weak.lock();
    if (ec || !self || self->state_ != SessionState::ready) return;
    auto idle = std::chrono::nanoseconds(now_ns() - self->last_activity_ns_.load());
    if (idle < self->opts_.ping_interval) {  // traffic proves it alive; no ping needed
      self->schedule_ping();
      return;
    }
    self->ping([weak](Result<Json> r) {
      auto s = weak.lock();
      if (!s) return;
      if (!r.ok() && r.error().code == Errc::timeout) {
        s->fail(make_error(Errc::unavailable, "server '" + s->opts_.name + "' missed a ping (no answer in " +
                                                  std::to_string(s->opts_.ping_timeout.count()) + " ms)"));
        return;
      }
      s->schedule_ping();
    });
  });
}

void ClientSession::list_tools(std::function<void(Result<Tools>)> done, bool refresh) {
  {
    std::unique_lock lock(mu_);
    if (!refresh && tools_ && !tools_stale_) {
      Tools t = tools_;
      lock.unlock();
      done(std::move(t));
      return;
    }
    tools_waiters_.push_back(std::move(done));
    if (tools_fetching_) return;
    tools_fetching_ = true;
  }
  fetch_tools_page("", std::make_shared<std::vector<Json>>(), 0);
}

Tools ClientSession::cached_tools() const {
  std::lock_guard lock(mu_);
  return tools_;
}

void ClientSession::fetch_tools_page(std::string cursor, std::shared_ptr<std::vector<Json>> acc, int pages) {
  std::uint64_t generation;
  {
    std::lock_guard lock(mu_);
    generation = tools_generation_;
  }
  Json params = Json::object();
  if (!cursor.empty()) params["cursor"] = cursor;
  std::weak_ptr<ClientSession> weak = weak_from_this();
  send("tools/list", std::move(params), opts_.request_timeout,
                 [weak, acc, pages, generation](Result<Json> r) {
                   auto self = weak.lock();
                   if (!self) return;
                   if (!r.ok()) {
                     Error e = r.error();
                     e.message = "tools/list: " + e.message;
                     self->finish_tools_fetch(std::move(e));
                     return;
                   }
                   Json& res = r.value();
                   if (auto tools = res.find("tools"); tools != res.end() && tools->is_array()) {
                     for (auto& t : *tools)
                       if (t.is_object() && t.contains("name")) acc->push_back(std::move(t));
                   }
                   auto next = res.find("nextCursor");
                   if (next != res.end() && next->is_string() && !next->get_ref<const std::string&>().empty()) {
                     if (pages + 1 >= kMaxToolPages) {
                       self->finish_tools_fetch(make_error(Errc::internal, "tools/list: server returned more than " +
                                                                               std::to_string(kMaxToolPages) + " pages"));
                       return;
                     }
                     self->fetch_tools_page(next->get<std::string>(), acc, pages + 1);
                     return;
                   }
                   {
                     std::lock_guard lock(self->mu_);
                     // A list_changed that arrived meanwhile means this list may already be old.
                     if (self->tools_generation_ != generation) self->tools_stale_ = true;
                   }
                   self->finish_tools_fetch(Tools(std::make_shared<const std::vector<Json>>(std::move(*acc))));
                 });
}

void ClientSession::finish_tools_fetch(Result<Tools> result) {
  std::vector<std::function<void(Result<Tools>)>> waiters;
  bool refetch = false;
  {
    std::lock_guard lock(mu_);
    tools_fetching_ = false;
    if (result.ok()) {
      refetch = tools_stale_ && tools_;  // changed again while we fetched: fetch once more later
      tools_ = result.value();
      tools_stale_ = refetch;
    }
    waiters.swap(tools_waiters_);
  }
  for (auto& w : waiters) w(result);
  if (refetch && state_ == SessionState::ready) list_tools([](Result<Tools>) {});
}

CallId ClientSession::call_tool(std::string tool, Json arguments, CallOptions options,
                                std::function<void(Result<Json>)> done) {
  Json params = {{"name", std::move(tool)}};
  params["arguments"] = arguments.is_null() ? Json::object() : std::move(arguments);
  std::string token;
  if (!options.task.is_null()) params["task"] = std::move(options.task);
  if (options.meta.is_object() && !options.meta.empty()) params["_meta"] = std::move(options.meta);
  if (options.on_progress) {
    token = "mcpd-" + std::to_string(next_token_.fetch_add(1));
    params["_meta"]["progressToken"] = token;
    std::lock_guard lock(mu_);
    progress_.emplace(token, std::move(options.on_progress));
  }
  in_flight_.fetch_add(1);
  std::weak_ptr<ClientSession> weak = weak_from_this();
  return send("tools/call", std::move(params), effective(options.timeout),
                        [weak, token, done = std::move(done)](Result<Json> r) {
                          if (auto self = weak.lock()) {
                            self->in_flight_.fetch_sub(1);
                            if (!token.empty()) {
                              std::lock_guard lock(self->mu_);
                              self->progress_.erase(token);
                            }
                          }
                          done(std::move(r));
                        });
}

void ClientSession::cancel_call(CallId id, std::string reason) {
  peer_->cancel(id, make_error(Errc::cancelled, "call cancelled: " + reason));
  peer_->notify("notifications/cancelled", {{"requestId", id}, {"reason", reason}});
}

void ClientSession::ping(std::function<void(Result<Json>)> done) {
  // The stateless era has no ping: server/discover is the cheapest request every server answers.
  if (stateless()) {
    send("server/discover", nullptr, opts_.ping_timeout, std::move(done));
    return;
  }
  peer_->request("ping", nullptr, opts_.ping_timeout, std::move(done));
}

void ClientSession::request(std::string method, Json params, std::chrono::milliseconds timeout,
                            std::function<void(Result<Json>)> done) {
  send(std::move(method), std::move(params), effective(timeout), std::move(done));
}

CallId ClientSession::send(std::string method, Json params, std::chrono::milliseconds timeout,
                           std::function<void(Result<Json>)> done) {
  if (!stateless()) return peer_->request(std::move(method), std::move(params), timeout, std::move(done));
  stamp_envelope(params, server_.protocol_version);
  return peer_->request(method, std::move(params), timeout, [method, done = std::move(done)](Result<Json> r) {
    done(settle_stateless_answer(method, std::move(r)));
  });
}

void ClientSession::on_related_request(const std::string& task_id, RelatedRequestHandler handler) {
  std::lock_guard lock(mu_);
  related_[task_id] = std::move(handler);
}

void ClientSession::on_task_status(const std::string& task_id, std::function<void(const Json&)> handler) {
  std::lock_guard lock(mu_);
  task_status_[task_id] = std::move(handler);
}

void ClientSession::forget_related(const std::string& task_id) {
  std::lock_guard lock(mu_);
  related_.erase(task_id);
  task_status_.erase(task_id);
}

void ClientSession::fail(Error reason) {
  asio::post(transport_->strand(), [self = shared_from_this(), reason = std::move(reason)]() mutable {
    if (self->state_ == SessionState::closed) return;
    self->state_ = SessionState::closed;
    self->close_reason_ = reason;
    self->ping_timer_->timer.cancel();
    self->peer_->close(reason);
    self->transport_->close();
  });
}

void ClientSession::close(std::function<void()> done) {
  asio::post(transport_->strand(), [self = shared_from_this(), done = std::move(done)]() mutable {
    if (self->state_ != SessionState::closed) {
      self->state_ = SessionState::closed;
      // Calls still in flight when we close on purpose were cancelled by us, not lost by the server.
      self->close_reason_ = make_error(Errc::cancelled, "call cancelled: the session to server '" + self->opts_.name +
                                                            "' was closed (server stopping, replaced or removed)");
      self->ping_timer_->timer.cancel();
      self->peer_->close(self->close_reason_);
    }
    self->transport_->close(std::move(done));
  });
}

void ClientSession::on_transport_closed(const transport::Closed& closed) {
  Error e;
  if (state_ == SessionState::closed && !close_reason_.message.empty()) {
    e = close_reason_;
  } else {
    e = make_error(closed.too_large ? Errc::too_large : Errc::unavailable, "server '" + opts_.name + "' " + closed.describe());
    close_reason_ = e;
  }
  state_ = SessionState::closed;
  ping_timer_->timer.cancel();
  peer_->close(e);
  if (closed_cb_) closed_cb_(e);
}

}  // namespace mcpd::mcp
