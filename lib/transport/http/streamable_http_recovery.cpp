// Recovery paths of the Streamable HTTP transport: a session the server forgot (re-initialise
// and resend), an SSE answer cut off midway (resume with Last-Event-ID), and the GET stream of
// server-initiated messages (reconnect with backoff).
#include "transport/http/streamable_http_session.hpp"

#include <spdlog/spdlog.h>

namespace mcpd::transport::http {

void StreamableHttp::session_expired(const PostPtr& p, long status) {
  Outgoing m = p->msg;
  if (auto it = awaiting_.find(m.info.id); it != awaiting_.end() && it->second == p) awaiting_.erase(it);
  if (m.internal || m.retried)
    return fail("the server's session expired and re-initialising failed: " + what(m) + " got HTTP " +
                std::to_string(status) + " again in the new session");
  // Sent with a session already replaced: just resend it in the new one.
  const bool stale = !reinitializing_ && p->session_sent != session_id_;
  if (m.info.method == "notifications/initialized") {
    initialized_pending_ = false;  // the new session gets its own
  } else if (m.info.kind != Kind::response) {  // an answer to the old session's request is moot
    m.retried = true;
    if (stale)
      post(std::move(m));
    else
      held_.push_back(std::move(m));
  }
  if (!stale) begin_reinit("HTTP " + std::to_string(status));
}

void StreamableHttp::begin_reinit(const std::string& why) {
  if (reinitializing_) return;
  if (init_.body.empty())
    return fail("the server's session expired (" + why + ") and no initialize was seen to open a new one");
  spdlog::warn("[{}] the server's session expired ({}); opening a new session", opts_.name, why);
  reinitializing_ = true;
  session_id_.clear();
  stop_get();
  Outgoing m = init_;
  m.internal = true;
  post(std::move(m));
}

void StreamableHttp::reinit_step(const PostPtr& p) {
  if (p->msg.info.method == "initialize") {
    if (!p->answered) return reinit_failed("the server did not answer the replayed initialize");
    if (!p->answer_ok) return reinit_failed("initialize was refused: " + p->answer);
    Outgoing n;
    n.body = initialized_.empty() ? R"({"jsonrpc":"2.0","method":"notifications/initialized"})" : initialized_;
    n.info = inspect_message(n.body);
    n.internal = true;
    post(std::move(n));
    return;
  }
  reinitializing_ = false;
  spdlog::info("[{}] new session opened", opts_.name);
  start_get();
  flush_held();
}

void StreamableHttp::reinit_failed(const std::string& why) {
  fail("the server's session expired and re-initialising failed: " + why);
}

void StreamableHttp::schedule_resume(const PostPtr& p) {
  if (++p->resumes > kMaxResumes) {
    if (p->msg.internal) return reinit_failed("the answer to the replayed initialize was lost");
    answer_with_error(p, "the stream carrying the answer from " + url_ + " broke " +
                             std::to_string(kMaxResumes) + " times; giving up", 0);
    return finished(p);
  }
  p->timer = std::make_unique<asio::steady_timer>(strand_, p->retry.value_or(kDefaultRetry));
  resuming_.insert(p);
  p->timer->async_wait([weak = weak_from_this(), p](const std::error_code& ec) {
    auto s = weak.lock();
    if (ec || !s || s->state_ != State::running) return;
    s->resuming_.erase(p);
    if (p->answered) return s->finished(p);  // it came on another stream meanwhile
    HttpRequest r;
    r.url = s->opts_.url;
    r.headers = s->session_headers(false);
    r.headers.push_back("Accept: text/event-stream");
    r.headers.push_back("Last-Event-ID: " + p->last_event_id);
    p->resuming = true;
    s->begin(p, std::move(r));
  });
}

void StreamableHttp::on_resume_done(const PostPtr& p, const HttpResult& r) {
  if (p->answered) return finished(p);
  if (!r.ok() || is_2xx(r.status)) return schedule_resume(p);  // broke again, or ended early
  if (p->msg.internal) return reinit_failed("resuming the answer to initialize: " + status_text(*p, r));
  if (!p->session_sent.empty() && (r.status == 404 || says_session_unknown(r.status, p->body))) {
    // The session died with the answer in it: the request is lost, the session is renewed.
    answer_with_error(p, "the server's session expired before it answered (HTTP " + std::to_string(r.status) + ")",
                      r.status);
    begin_reinit("HTTP " + std::to_string(r.status));
    return finished(p);
  }
  // 405 and the like: the server cannot resume streams.
  answer_with_error(p, "the stream carrying the answer broke and the server would not resume it (" +
                           status_text(*p, r) + ")", r.status);
  finished(p);
}

void StreamableHttp::start_get() {
  if (!get_supported_ || get_ != 0 || state_ != State::running || reinitializing_) return;
  HttpRequest r;
  r.url = opts_.url;
  r.headers = session_headers(false);
  r.headers.push_back("Accept: text/event-stream");
  if (!get_last_id_.empty()) r.headers.push_back("Last-Event-ID: " + get_last_id_);
  get_parser_ = SseParser(opts_.max_message_bytes);
  get_status_ = 0;
  get_body_.clear();
  std::weak_ptr<StreamableHttp> weak = weak_from_this();
  get_ = multi_->start(std::move(r), HttpCallbacks{
      [weak](const HttpHead& h) {
        auto s = weak.lock();
        if (!s) return;
        s->get_status_ = h.status;
        s->get_open_ = is_2xx(h.status) && h.media_type() == "text/event-stream";
        if (s->get_open_) s->get_failures_ = 0;
      },
      [weak](std::string_view chunk) {
        auto s = weak.lock();
        if (!s) return false;
        if (!s->get_open_) {
          if (s->get_body_.size() < 1024) s->get_body_.append(chunk.substr(0, 1024));
          return true;
        }
        bool ok = s->get_parser_.feed(chunk, [&](SseEvent&& ev) { s->on_event(ev); });
        if (s->get_parser_.has_event_id()) s->get_last_id_ = s->get_parser_.last_event_id();
        if (s->get_parser_.retry()) s->get_retry_ = *s->get_parser_.retry();
        return ok;
      },
      [weak](const HttpResult& r) {
        if (auto s = weak.lock()) s->on_get_done(r);
      }});
}

void StreamableHttp::on_get_done(const HttpResult& r) {
  get_ = 0;
  const bool was_open = get_open_;
  get_open_ = false;
  if (state_ != State::running || reinitializing_) return;
  if (r.ok() && r.status == 405) {
    spdlog::debug("[{}] the server offers no GET stream (405)", opts_.name);
    get_supported_ = false;
    return;
  }
  if (r.ok() && !session_id_.empty() && (r.status == 404 || says_session_unknown(r.status, get_body_)))
    return begin_reinit("HTTP " + std::to_string(r.status) + " on the GET stream");
  if (!was_open) ++get_failures_;
  // Reconnect after the server's retry delay, backing off while it keeps failing.
  auto delay = get_retry_ * (1 << std::min(get_failures_, 5));
  delay = std::min<std::chrono::milliseconds>(delay, kMaxGetBackoff);
  spdlog::debug("[{}] GET stream ended ({}); reconnecting in {} ms", opts_.name,
                r.ok() ? "HTTP " + std::to_string(r.status) : r.error, delay.count());
  get_timer_.expires_after(delay);
  get_timer_.async_wait([weak = weak_from_this()](const std::error_code& ec) {
    if (auto s = weak.lock(); s && !ec) s->start_get();
  });
}

void StreamableHttp::stop_get() {
  get_timer_.cancel();
  if (get_) multi_->cancel(std::exchange(get_, 0));
  get_open_ = false;
  get_last_id_.clear();  // event ids belong to the session
}

}  // namespace mcpd::transport::http
