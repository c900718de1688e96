#include "transport/http/legacy_sse_transport.hpp"

#include "transport/http/curl_multi.hpp"
#include "transport/http/http_support.hpp"
#include "transport/http/sse_parser.hpp"
#include "transport/outbox.hpp"

#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <deque>
#include <unordered_map>

namespace mcpd::transport {
namespace {

using namespace http;
using Kind = MessageInfo::Kind;

constexpr std::chrono::milliseconds kDefaultRetry{1000};
constexpr std::chrono::milliseconds kAcceptTimeout{30000};
constexpr int kMaxReconnects = 3;  // consecutive failed attempts before giving up

struct Outgoing {
  std::string body;
  MessageInfo info;
  bool internal = false;  // replayed after a reconnect: its answer is ours
};

class LegacySse final : public Transport, public std::enable_shared_from_this<LegacySse> {
 public:
  LegacySse(io::Strand strand, HttpOptions options)
      : strand_(std::move(strand)),
        opts_(std::move(options)),
        url_(redact_url(opts_.url)),
        headers_(base_headers(opts_)),
        multi_(make_curl_multi(strand_, ConnectOptions{opts_.connect_timeout, opts_.ca_file, opts_.tls_verify})),
        timer_(strand_) {}

  ~LegacySse() override {
    asio::post(strand_, [m = multi_] { m->shutdown(); });
  }

  const io::Strand& strand() const override { return strand_; }
  std::string describe() const override { return "sse:" + url_; }

  void start(Handlers handlers) override {
    asio::post(strand_, [self = shared_from_this(), h = std::move(handlers)]() mutable {
      if (self->state_ != State::idle) return;
      self->handlers_ = std::move(h);
      self->state_ = State::connecting;
      spdlog::info("[{}] HTTP+SSE transport to {}", self->opts_.name, self->url_);
      self->open_stream();
      self->flush_outbox();
    });
  }

  bool send(std::string message) override {
    if (!accepting_.load()) return false;
    Outgoing m;
    m.info = inspect_message(message);
    m.body = std::move(message);
    if (outbox_.push(std::move(m))) asio::post(strand_, [self = shared_from_this()] { self->flush_outbox(); });
    return true;
  }

  void close(std::function<void()> done) override {
    asio::post(strand_, [self = shared_from_this(), done = std::move(done)]() mutable {
      if (self->state_ != State::stopped) {
        Closed c;
        c.reason = "closed";
        c.requested = true;
        self->stop(c);
      }
      if (done) done();
    });
  }

 private:
  // connecting: waiting for the first endpoint; reconnecting: the stream broke, a new session
  // is being opened (messages wait); ready: POSTs go out.
  enum class State { idle, connecting, reconnecting, ready, stopped };

  void flush_outbox() {
    if (state_ == State::idle) return outbox_.defer();  // start() flushes
    for (auto& m : outbox_.take()) dispatch(std::move(m));
  }

  void dispatch(Outgoing m) {
    if (state_ == State::stopped || state_ == State::idle) return;
    if (m.info.kind == Kind::request && m.info.method == "initialize") init_ = m;
    if (m.info.method == "notifications/initialized") initialized_ = m.body;
    if (state_ != State::ready) {
      held_.push_back(std::move(m));
      return;
    }
    post(std::move(m));
  }

  void post(Outgoing m) {
    if (m.info.kind == Kind::request && !m.internal) awaiting_[m.info.id] = m.info.method;
    if (m.info.method == "notifications/cancelled") {  // its answer will never be awaited again
      if (auto id = cancelled_request_id(m.body)) awaiting_.erase(*id);
    }
    HttpRequest r;
    r.method = "POST";
    r.url = endpoint_;
    r.headers = headers_;
    r.headers.push_back("Content-Type: application/json");
    if (!m.info.traceparent.empty()) r.headers.push_back("traceparent: " + m.info.traceparent);
    if (!m.info.tracestate.empty()) r.headers.push_back("tracestate: " + m.info.tracestate);
    r.body = m.body;
    // Every POST here is answered 202 at once (answers come on the stream): bound it.
    r.timeout = opts_.request_timeout.count() > 0 ? opts_.request_timeout : kAcceptTimeout;
    auto body = std::make_shared<std::string>();
    std::weak_ptr<LegacySse> weak = weak_from_this();
    multi_->start(std::move(r), HttpCallbacks{
        {},
        [body](std::string_view chunk) {  // ignored but for an error message
          if (body->size() < 1024) body->append(chunk.substr(0, 1024));
          return true;
        },
        [weak, body, m = std::move(m), generation = generation_](const HttpResult& r) {
          auto s = weak.lock();
          if (!s || s->state_ == State::stopped || generation != s->generation_) return;
          if (r.ok() && r.status / 100 == 2) return;  // the answer comes on the stream
          std::string why = r.ok() ? "HTTP " + std::to_string(r.status) + " from " + redact_url(s->endpoint_) +
                                         (body->empty() ? "" : ": " + excerpt(*body))
                                   : "HTTP request to " + redact_url(s->endpoint_) + " failed: " + r.error;
          if (m.internal) return s->reconnect_failed("re-initialising the new session: " + why);
          if (m.info.kind != Kind::request) {
            spdlog::warn("[{}] could not send {}: {}", s->opts_.name, m.info.method, why);
            return;
          }
          s->answer_with_error(m.info.id, m.info.method, why, r.status);
        }});
  }

  void answer_with_error(const std::string& id, const std::string& method, const std::string& why, long status) {
    if (awaiting_.erase(id) == 0) return;  // answered meanwhile
    spdlog::warn("[{}] {} failed: {}", opts_.name, method, why);
    deliver(error_response(id, why, status));
  }

  void deliver(std::string_view message) {
    if (handlers_.on_message && state_ != State::stopped) handlers_.on_message(message);
  }

  // --- the stream ----------------------------------------------------------------------------
  void open_stream() {
    HttpRequest r;
    r.url = opts_.url;
    r.headers = headers_;
    r.headers.push_back("Accept: text/event-stream");
    parser_ = SseParser(opts_.max_message_bytes);
    stream_open_ = false;
    stream_status_ = 0;
    stream_body_.clear();
    std::weak_ptr<LegacySse> weak = weak_from_this();
    stream_ = multi_->start(std::move(r), HttpCallbacks{
        [weak](const HttpHead& h) {
          auto s = weak.lock();
          if (!s) return;
          s->stream_status_ = h.status;
          s->stream_open_ = h.status / 100 == 2 && h.media_type() == "text/event-stream";
        },
        [weak](std::string_view chunk) {
          auto s = weak.lock();
          if (!s) return false;
          if (!s->stream_open_) {
            if (s->stream_body_.size() < 1024) s->stream_body_.append(chunk.substr(0, 1024));
            return true;
          }
          bool ok = s->parser_.feed(chunk, [&](SseEvent&& ev) { s->on_event(ev); });
          if (s->parser_.retry()) s->retry_ = *s->parser_.retry();
          return ok;
        },
        [weak](const HttpResult& r) {
          if (auto s = weak.lock()) s->on_stream_end(r);
        }});
    // The endpoint must come promptly (connecting, then a little more for the first event); a
    // server that never sends one is not an MCP server.
    arm_timer(opts_.connect_timeout * 2, "no endpoint event arrived within " +
                                             std::to_string((opts_.connect_timeout * 2).count()) + " ms");
  }

  void on_event(const SseEvent& ev) {
    if (ev.type == "endpoint") return on_endpoint(ev.data);
    if (ev.type != "message" || ev.data.find_first_not_of(" \t\r\n") == std::string::npos) return;
    MessageInfo info = inspect_message(ev.data);
    if (info.kind == Kind::response) {
      if (replaying_ && info.id == init_.info.id) return replayed_answer(ev.data, info);
      awaiting_.erase(info.id);
      if (info.id == init_.info.id && !info.is_error) init_answered_ = true;
    }
    deliver(ev.data);
  }

  void on_endpoint(const std::string& ref) {
    if (!endpoint_.empty()) return;  // one per stream; later ones are ignored
    auto url = resolve_url(opts_.url, ref);
    if (!url) return lost("the endpoint event holds no usable URL: " + excerpt(ref));
    if (!same_origin(*url, opts_.url)) return fail("the server named an endpoint on another origin (" + redact_url(*url) + "); refusing to send messages there");
    endpoint_ = *url;
    timer_.cancel();
    if (state_ == State::connecting) {
      state_ = State::ready;
      reconnects_ = 0;
      flush_held();
      return;
    }
    // A new session after a reconnect: open it as the client did the first one.
    if (!init_answered_) return now_ready();
    spdlog::info("[{}] reconnected; re-initialising the new session", opts_.name);
    replaying_ = true;
    Outgoing m = init_;
    m.internal = true;
    post(std::move(m));
    arm_timer(opts_.connect_timeout, "the replayed initialize was not answered");
  }

  void replayed_answer(const std::string& data, const MessageInfo& info) {
    replaying_ = false;
    timer_.cancel();
    if (info.is_error) return reconnect_failed("initialize was refused: " + excerpt(data));
    Outgoing n;
    n.body = initialized_.empty() ? R"({"jsonrpc":"2.0","method":"notifications/initialized"})" : initialized_;
    n.info = inspect_message(n.body);
    n.internal = true;
    post(std::move(n));
    now_ready();
  }

  void now_ready() {
    state_ = State::ready;
    reconnects_ = 0;
    spdlog::info("[{}] new session ready", opts_.name);
    flush_held();
  }

  void flush_held() {
    std::deque<Outgoing> batch;
    batch.swap(held_);
    for (auto& m : batch) post(std::move(m));
  }

  void on_stream_end(const HttpResult& r) {
    stream_ = 0;
    if (state_ == State::stopped) return;
    std::string why;
    if (!r.ok()) {
      why = r.aborted ? "an event exceeded " + std::to_string(opts_.max_message_bytes) + " bytes" : r.error;
    } else if (!stream_open_) {
      why = "HTTP " + std::to_string(r.status) + (stream_body_.empty() ? "" : ": " + excerpt(stream_body_));
    } else {
      why = "the server ended the stream";
    }
    lost(why);
  }

  // The stream (and with it the session) is gone: fail what waited on it, then reconnect.
  void lost(const std::string& why) {
    if (state_ == State::stopped) return;
    if (state_ == State::connecting) return fail("cannot open the SSE stream at " + url_ + ": " + why);
    if (stream_) multi_->cancel(std::exchange(stream_, 0));
    ++generation_;  // POSTs still running belong to the old session
    endpoint_.clear();
    replaying_ = false;
    for (const auto& [id, method] : std::exchange(awaiting_, {})) {
      spdlog::warn("[{}] {} lost: the SSE stream broke", opts_.name, method);
      deliver(error_response(id, "the SSE stream from " + url_ + " broke (" + why + "); the answer was lost", 0));
    }
    if (++reconnects_ > kMaxReconnects)
      return fail("the SSE stream from " + url_ + " broke and reconnecting failed: " + why);
    if (state_ == State::ready) spdlog::warn("[{}] the SSE stream broke ({}); reconnecting", opts_.name, why);
    state_ = State::reconnecting;
    auto delay = retry_ * (1 << std::min(reconnects_ - 1, 4));
    timer_.expires_after(delay);
    timer_.async_wait([weak = weak_from_this()](const std::error_code& ec) {
      if (auto s = weak.lock(); s && !ec && s->state_ != State::stopped) s->open_stream();
    });
  }

  void reconnect_failed(const std::string& why) {
    fail("the SSE stream broke and the new session could not be opened: " + why);
  }

  void arm_timer(std::chrono::milliseconds after, std::string what) {
    timer_.expires_after(after);
    timer_.async_wait([weak = weak_from_this(), what = std::move(what)](const std::error_code& ec) {
      auto s = weak.lock();
      if (ec || !s || s->state_ == State::stopped) return;
      if (s->replaying_) return s->reconnect_failed(what);
      s->lost(what);
    });
  }

  void fail(const std::string& reason) {
    if (state_ == State::stopped) return;
    spdlog::error("[{}] {}", opts_.name, reason);
    Closed c;
    c.reason = reason;
    stop(c);
  }

  // No DELETE here: the 2024-11-05 transport ends a session by closing its stream.
  void stop(const Closed& c) {
    const bool report = state_ != State::idle;
    state_ = State::stopped;
    accepting_ = false;
    timer_.cancel();
    multi_->shutdown();
    held_.clear();
    awaiting_.clear();
    if (report && handlers_.on_closed) handlers_.on_closed(c);
  }

  io::Strand strand_;
  HttpOptions opts_;
  const std::string url_;
  const std::vector<std::string> headers_;
  std::shared_ptr<CurlMulti> multi_;
  asio::steady_timer timer_;  // endpoint wait, replay wait, reconnect delay
  Handlers handlers_;
  std::atomic<bool> accepting_{true};
  State state_ = State::idle;

  ExchangeId stream_ = 0;
  bool stream_open_ = false;
  long stream_status_ = 0;
  std::string stream_body_;
  SseParser parser_;
  std::chrono::milliseconds retry_ = kDefaultRetry;  // the server's `retry:`, kept across streams
  std::string endpoint_;
  int reconnects_ = 0;
  std::uint64_t generation_ = 0;  // bumped per lost session

  Outgoing init_;
  std::string initialized_;
  bool init_answered_ = false;
  bool replaying_ = false;
  std::deque<Outgoing> held_;
  std::unordered_map<std::string, std::string> awaiting_;  // request id → method

  Outbox<Outgoing> outbox_;
};

}  // namespace

std::shared_ptr<Transport> make_legacy_sse_transport(io::Strand strand, HttpOptions options) {
  return std::make_shared<LegacySse>(std::move(strand), std::move(options));
}

}  // namespace mcpd::transport
