#include "transport/http/streamable_http_session.hpp"
#include "transport/oversized.hpp"

#include "auth/discovery.hpp"
#include "auth/token_provider.hpp"

#include <asio/post.hpp>
#include <spdlog/spdlog.h>

namespace mcpd::transport {

std::shared_ptr<Transport> make_streamable_http_transport(io::Strand strand, HttpOptions options) {
  return std::make_shared<http::StreamableHttp>(std::move(strand), std::move(options));
}

namespace http {

StreamableHttp::StreamableHttp(io::Strand strand, HttpOptions options)
    : strand_(std::move(strand)),
      opts_(std::move(options)),
      url_(redact_url(opts_.url)),
      headers_(base_headers(opts_)),
      multi_(make_curl_multi(strand_, ConnectOptions{opts_.connect_timeout, opts_.ca_file, opts_.tls_verify})),
      get_timer_(strand_) {}

StreamableHttp::~StreamableHttp() {
  // Last resort when the owner never called close(): no exchange outlives the transport.
  asio::post(strand_, [m = multi_] { m->shutdown(); });
}

void StreamableHttp::start(Handlers handlers) {
  asio::post(strand_, [self = shared_from_this(), h = std::move(handlers)]() mutable {
    if (self->state_ != State::idle) return;
    self->handlers_ = std::move(h);
    self->state_ = State::running;
    spdlog::info("[{}] Streamable HTTP transport to {}", self->opts_.name, self->url_);
    self->flush_outbox();
  });
}

bool StreamableHttp::send(std::string message) {
  if (!accepting_.load()) return false;
  Outgoing m;
  m.info = inspect_message(message);  // on the caller's thread: spreads the work off the loop
  m.body = std::move(message);
  if (outbox_.push(std::move(m))) asio::post(strand_, [self = shared_from_this()] { self->flush_outbox(); });
  return true;
}

void StreamableHttp::close(std::function<void()> done) {
  asio::post(strand_, [self = shared_from_this(), done = std::move(done)]() mutable {
    self->do_close(std::move(done));
  });
}

void StreamableHttp::flush_outbox() {
  if (state_ != State::running) return outbox_.defer();  // start() flushes; once closing, nothing goes out
  for (auto& m : outbox_.take()) dispatch(std::move(m));
}

void StreamableHttp::dispatch(Outgoing m) {
  if (state_ != State::running) return;
  if (m.info.kind == Kind::request && m.info.method == "initialize") {
    init_ = m;  // kept to open a new session if this one expires
    init_pending_ = true;
    post(std::move(m));
    return;
  }
  if (holding()) {
    held_.push_back(std::move(m));
    return;
  }
  // In the stateless era closing a request's stream is its cancellation; there is no message.
  if (stateless_ && m.info.method == "notifications/cancelled") return forget_cancelled(m.body);
  if (m.info.method == "notifications/initialized") {
    initialized_ = m.body;
    initialized_pending_ = true;
  }
  post(std::move(m));
}

void StreamableHttp::flush_held() {
  std::deque<Outgoing> batch;
  batch.swap(held_);
  while (!batch.empty() && state_ == State::running) {
    if (holding()) {
      held_.push_back(std::move(batch.front()));
    } else {
      dispatch(std::move(batch.front()));
    }
    batch.pop_front();
  }
}

std::vector<std::string> StreamableHttp::session_headers(bool initialize, bool oauth) const {
  std::vector<std::string> h = headers_;
  if (!initialize) {
    if (!session_id_.empty()) h.push_back("Mcp-Session-Id: " + session_id_);
    if (!protocol_version_.empty()) h.push_back("MCP-Protocol-Version: " + protocol_version_);
  }
  if (oauth && opts_.oauth)
    if (auto t = opts_.oauth->current()) h.push_back("Authorization: Bearer " + *t);
  return h;
}

bool StreamableHttp::wants_token(const Post& p, long status) const {
  if (!opts_.oauth || p.msg.auth_attempts > 0) return false;
  if (status == 401) return true;
  if (status != 403) return false;
  auto c = auth::parse_www_authenticate(p.challenge);
  return c && c->error == "insufficient_scope";
}

void StreamableHttp::reauthorize(const PostPtr& p) {
  spdlog::info("[{}] {} answered HTTP {} to {}: getting an OAuth token", opts_.name, url_, p->status, what(p->msg));
  std::weak_ptr<StreamableHttp> weak = weak_from_this();
  // The provider runs the flow on its own thread; the answer comes back to the strand.
  opts_.oauth->acquire(p->challenge, p->token_sent, [weak, p, strand = strand_](Result<std::string> token) {
    asio::post(strand, [weak, p, token = std::move(token)] {
      auto s = weak.lock();
      if (!s || s->state_ != State::running) return;
      if (!token.ok()) {
        if (p->msg.internal) return s->reinit_failed(token.error().message);
        if (p->msg.info.kind == Kind::request && !p->answered)
          s->answer_with_error(p, "HTTP " + std::to_string(p->status) + " from " + s->url_ + ", and " +
                                      token.error().message, p->status);
        return s->finished(p);
      }
      Outgoing again = p->msg;
      again.auth_attempts++;
      s->post(std::move(again));
    });
  });
}

void StreamableHttp::post(Outgoing m) {
  auto p = std::make_shared<Post>();
  p->msg = std::move(m);
  if (p->msg.info.kind == Kind::request) awaiting_[p->msg.info.id] = p;
  const bool init = p->msg.info.method == "initialize";
  // A message of the stateless era (it claims its revision in _meta) belongs to no session: it
  // carries the standard request headers instead of Mcp-Session-Id.
  const bool stateless = !p->msg.info.protocol_version.empty();
  if (p->msg.info.kind == Kind::request) stateless_ = stateless;
  HttpRequest r;
  r.method = "POST";
  r.url = opts_.url;
  r.headers = stateless ? headers_ : session_headers(init, false);
  if (opts_.oauth)
    if (auto t = opts_.oauth->current()) {
      p->token_sent = *t;
      r.headers.push_back("Authorization: Bearer " + *t);
    }
  if (stateless)
    for (auto& h : stateless_request_headers(p->msg.info)) r.headers.push_back(std::move(h));
  r.headers.push_back("Content-Type: application/json");
  r.headers.push_back("Accept: application/json, text/event-stream");
  if (!p->msg.info.traceparent.empty()) r.headers.push_back("traceparent: " + p->msg.info.traceparent);
  if (!p->msg.info.tracestate.empty()) r.headers.push_back("tracestate: " + p->msg.info.tracestate);
  r.body = p->msg.body;
  r.timeout = opts_.request_timeout;
  // A notification or response is answered 202 at once; only a request's answer may stream.
  if (p->msg.info.kind != Kind::request && r.timeout.count() == 0) r.timeout = kAcceptTimeout;
  p->session_sent = init || stateless ? std::string() : session_id_;
  begin(p, std::move(r));
  if (p->msg.info.method == "notifications/cancelled") forget_cancelled(p->msg.body);
}

// The client gave up on a request and told the server: its answer no longer matters, so stop
// holding its stream (and connection) open for a response that may never come.
void StreamableHttp::forget_cancelled(const std::string& notification) {
  auto id = cancelled_request_id(notification);
  if (!id) return;
  auto it = awaiting_.find(*id);
  if (it == awaiting_.end() || it->second->msg.internal) return;
  PostPtr p = it->second;
  awaiting_.erase(it);
  if (p->exchange) multi_->cancel(std::exchange(p->exchange, 0));
  if (p->timer) p->timer->cancel();
  resuming_.erase(p);
}

void StreamableHttp::begin(const PostPtr& p, HttpRequest r) {
  p->status = 0;
  p->reason.clear();
  p->challenge.clear();
  p->sse = false;
  p->body.clear();
  p->parser = SseParser(opts_.max_message_bytes);
  std::weak_ptr<StreamableHttp> weak = weak_from_this();
  p->exchange = multi_->start(std::move(r), HttpCallbacks{
      [weak, p](const HttpHead& h) {
        if (auto s = weak.lock()) s->on_head(*p, h);
      },
      [weak, p](std::string_view chunk) {
        auto s = weak.lock();
        return s && s->on_body(*p, chunk);
      },
      [weak, p](const HttpResult& r) {
        auto s = weak.lock();
        if (!s || s->state_ != State::running) return;
        p->exchange = 0;
        if (p->resuming)
          s->on_resume_done(p, r);
        else
          s->on_post_done(p, r);
      }});
}

void StreamableHttp::on_head(Post& p, const HttpHead& h) {
  p.status = h.status;
  p.reason = h.reason;
  p.sse = is_2xx(h.status) && h.media_type() == "text/event-stream";
  if (h.status == 401 || h.status == 403)
    if (const std::string* c = h.find("www-authenticate")) p.challenge = *c;
  if (p.msg.info.method == "initialize" && !p.resuming && is_2xx(h.status)) {
    const std::string* sid = h.find("mcp-session-id");
    if (sid && visible_ascii(*sid)) {
      session_id_ = *sid;
    } else if (sid) {
      spdlog::warn("[{}] ignoring an Mcp-Session-Id that is not visible ASCII", opts_.name);
    }
  }
}

bool StreamableHttp::on_body(Post& p, std::string_view chunk) {
  if (!p.sse) {
    if (p.body.size() + chunk.size() > opts_.max_message_bytes) return false;
    p.body.append(chunk);
    return true;
  }
  bool ok = p.parser.feed(chunk, [&](SseEvent&& ev) { on_event(ev); });
  if (p.parser.has_event_id()) p.last_event_id = p.parser.last_event_id();
  if (p.parser.retry()) p.retry = p.parser.retry();
  return ok;
}

void StreamableHttp::on_event(const SseEvent& ev) {
  if (ev.type != "message") return;
  if (ev.data.find_first_not_of(" \t\r\n") == std::string::npos) return;  // a priming event: id only
  incoming(ev.data);
}

void StreamableHttp::incoming(std::string_view data) {
  MessageInfo info = inspect_message(data);
  if (info.kind == Kind::response) {
    if (auto it = awaiting_.find(info.id); it != awaiting_.end()) {
      PostPtr p = it->second;
      awaiting_.erase(it);
      p->answered = true;
      if (p->msg.info.method == "initialize") {
        if (auto v = protocol_version_of(data)) protocol_version_ = *v;
      }
      // A resumed stream exists for this answer alone; some servers never end it, so we do
      // (after this callback: curl must not be re-entered from here).
      if (p->resuming && p->exchange) {
        asio::post(strand_, [weak = weak_from_this(), p] {
          auto s = weak.lock();
          if (!s || s->state_ != State::running || !p->exchange) return;  // it ended by itself
          s->multi_->cancel(std::exchange(p->exchange, 0));
          s->finished(p);
        });
      }
      if (p->msg.internal) {  // the replayed initialize: the client saw its answer long ago
        p->answer_ok = !info.is_error;
        p->answer = excerpt(data);
        return;
      }
    }
  }
  deliver(data);
}

void StreamableHttp::deliver(std::string_view message) {
  if (handlers_.on_message && !closed_reported_) handlers_.on_message(message);
}

std::string StreamableHttp::failure_text(const HttpResult& r) const {
  return r.aborted ? "an answer of more than " + std::to_string(opts_.max_message_bytes) + " bytes" : r.error;
}

std::string StreamableHttp::status_text(const Post& p, const HttpResult& r) const {
  std::string s = "HTTP " + std::to_string(r.status);
  if (!p.reason.empty()) s += " " + p.reason;
  return s + " from " + url_ + (p.body.empty() ? "" : ": " + excerpt(p.body));
}

void StreamableHttp::on_post_done(const PostPtr& p, const HttpResult& r) {
  const Outgoing& m = p->msg;
  const bool request = m.info.kind == Kind::request;
  if (!r.ok()) {
    const std::string why = failure_text(r);
    if (m.internal) return reinit_failed(why);
    if (request && m.info.method == "initialize" && !p->answered)  // the very first exchange
      return fail("cannot reach " + url_ + ": " + why);
    if (request && !p->answered && p->sse && !p->last_event_id.empty() && !r.aborted) return schedule_resume(p);
    if (request && !p->answered && r.aborted) {
      // Over maxMessageBytes: this call fails with too_large; the session is fine.
      answer_with_error(p, "server '" + opts_.name + "' sent " + why + ", over its maxMessageBytes", r.status, true);
    } else if (request && !p->answered) {
      answer_with_error(p, "HTTP request to " + url_ + " failed: " + why, r.status);
    } else if (!request) {
      spdlog::warn("[{}] could not send {} to {}: {}", opts_.name, what(m), url_, why);
    }
    return finished(p);
  }
  if (!p->session_sent.empty() && (r.status == 404 || says_session_unknown(r.status, p->body)))
    return session_expired(p, r.status);
  if (wants_token(*p, r.status) && !p->answered) return reauthorize(p);
  if (!is_2xx(r.status)) {
    if (m.internal) return reinit_failed(status_text(*p, r));
    // A stateless-era server answers a refused request with its JSON-RPC error in the body
    // (UnsupportedProtocolVersion, HeaderMismatch, method not found, ...): that error, with its
    // code, is the answer.
    if (request && !p->answered && !m.info.protocol_version.empty() && !p->sse) {
      MessageInfo answer = inspect_message(p->body);
      if (answer.kind == Kind::response && answer.is_error && answer.id == m.info.id) {
        incoming(p->body);
        return finished(p);
      }
    }
    if (request && !p->answered)
      answer_with_error(p, status_text(*p, r), r.status);
    else if (!request)
      spdlog::warn("[{}] the server refused {}: {}", opts_.name, what(m), status_text(*p, r));
    return finished(p);
  }
  if (!p->sse && r.status != 202 && p->body.find_first_not_of(" \t\r\n") != std::string::npos) incoming(p->body);
  if (request && !p->answered) {
    if (p->sse && !p->last_event_id.empty()) return schedule_resume(p);
    if (m.internal) return reinit_failed("the server did not answer the replayed initialize");
    // A 202 to a request breaks the rules, but the answer may still come on the GET
    // stream; the caller's deadline bounds the wait.
    if (r.status == 202 && get_open_) return finished(p);
    answer_with_error(p, "the server ended its answer to " + m.info.method + " without a response (HTTP " +
                             std::to_string(r.status) + ")", r.status);
  }
  finished(p);
}

std::string StreamableHttp::what(const Outgoing& m) {
  return m.info.method.empty() ? std::string("a response") : m.info.method;
}

void StreamableHttp::answer_with_error(const PostPtr& p, const std::string& message, long status, bool too_large) {
  if (auto it = awaiting_.find(p->msg.info.id); it != awaiting_.end() && it->second == p) awaiting_.erase(it);
  spdlog::warn("[{}] {} failed: {}", opts_.name, p->msg.info.method, message);
  deliver(too_large ? too_large_response(p->msg.info.id, message, "http") : error_response(p->msg.info.id, message, status));
}

void StreamableHttp::finished(const PostPtr& p) {
  const Outgoing& m = p->msg;
  if (m.internal) return reinit_step(p);
  if (m.info.method == "initialize" && init_pending_) {
    init_pending_ = false;
    flush_held();
  } else if (m.info.method == "notifications/initialized" && initialized_pending_) {
    initialized_pending_ = false;
    start_get();
    flush_held();
  }
}

void StreamableHttp::do_close(std::function<void()> done) {
  if (state_ == State::idle || state_ == State::stopped) {
    accepting_ = false;
    state_ = State::stopped;
    multi_->shutdown();
    if (done) done();
    return;
  }
  close_waiters_.push_back(std::move(done));
  if (state_ == State::closing) return;
  state_ = State::closing;
  accepting_ = false;
  stop_timers();
  multi_->cancel_all();
  if (session_id_.empty()) return finish_close();
  // End the session on the server: best effort, bounded by delete_timeout.
  HttpRequest r;
  r.method = "DELETE";
  r.url = opts_.url;
  r.headers = session_headers(false);
  r.timeout = opts_.delete_timeout;
  // Held strongly: the owner may drop its last reference right after close(), and the close
  // waiters must still run (the DELETE is bounded by delete_timeout).
  multi_->start(std::move(r), HttpCallbacks{{}, {}, [self = shared_from_this(), name = opts_.name](const HttpResult& res) {
                                              if (!res.ok())
                                                spdlog::debug("[{}] DELETE of the session failed: {}", name, res.error);
                                              self->finish_close();
                                            }});
}

void StreamableHttp::finish_close() {
  Closed c;
  c.reason = "closed";
  c.requested = true;
  stop(c);
}

void StreamableHttp::fail(const std::string& reason) {
  if (state_ != State::running) return;
  spdlog::error("[{}] {}", opts_.name, reason);
  Closed c;
  c.reason = reason;
  stop(c);
}

void StreamableHttp::stop_timers() {
  get_timer_.cancel();
  for (const auto& p : resuming_) p->timer->cancel();
  resuming_.clear();
}

void StreamableHttp::stop(const Closed& c) {
  state_ = State::stopped;
  accepting_ = false;
  stop_timers();
  multi_->shutdown();
  awaiting_.clear();
  held_.clear();
  if (!closed_reported_) {
    closed_reported_ = true;
    if (handlers_.on_closed) handlers_.on_closed(c);
  }
  auto waiters = std::move(close_waiters_);
  for (auto& w : waiters)
    if (w) w();
}

}  // namespace http
}  // namespace mcpd::transport
