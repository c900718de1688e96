// The Streamable HTTP transport's implementation class, shared by its two source files:
// streamable_http_transport.cpp (sending, answers, closing) and streamable_http_recovery.cpp
// (expired sessions, resumed streams, the GET stream). Not a public header: use
// streamable_http_transport.hpp.
#pragma once

#include "transport/http/curl_multi.hpp"
#include "transport/http/http_support.hpp"
#include "transport/http/sse_parser.hpp"
#include "transport/http/streamable_http_transport.hpp"
#include "transport/outbox.hpp"

#include <asio/steady_timer.hpp>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace mcpd::transport::http {

using Kind = MessageInfo::Kind;

constexpr std::chrono::milliseconds kDefaultRetry{1000};  // when the server did not say (`retry:`)
constexpr std::chrono::milliseconds kMaxGetBackoff{30000};
constexpr std::chrono::milliseconds kAcceptTimeout{30000};  // a notification's POST, if no request_timeout
constexpr int kMaxResumes = 5;          // attempts to resume one interrupted answer

// One outgoing message and what the transport knows about it.
struct Outgoing {
  std::string body;
  MessageInfo info;
  bool internal = false;  // part of re-initialising: its answer is ours, never the client's
  bool retried = false;   // already resent once in a new session
  int auth_attempts = 0;  // resent with a new OAuth token (at most once)
};

// One message's POST and, if its SSE answer is interrupted, the GETs resuming it.
struct Post {
  Outgoing msg;
  std::string session_sent;  // the Mcp-Session-Id it carried
  ExchangeId exchange = 0;
  bool resuming = false;     // the current exchange is a GET with Last-Event-ID
  long status = 0;
  std::string reason;        // the status line's reason phrase
  std::string challenge;     // WWW-Authenticate of a 401/403
  std::string token_sent;    // the OAuth access token it carried, if any
  bool sse = false;
  std::string body;          // a JSON answer or an error page
  SseParser parser;
  std::string last_event_id;
  std::optional<std::chrono::milliseconds> retry;
  bool answered = false;     // the response to msg (a request) arrived, on whatever stream
  bool answer_ok = false;    // ... and it was a result (internal initialize only)
  std::string answer;        // ... its excerpt (internal initialize only)
  int resumes = 0;
  std::unique_ptr<asio::steady_timer> timer;
};
using PostPtr = std::shared_ptr<Post>;

inline bool is_2xx(long status) { return status / 100 == 2; }

inline bool visible_ascii(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x21 && c <= 0x7e; });
}

// Some servers (the SDK's examples among them) answer an unknown session id with 400 and a
// message about the session instead of the 404 the spec asks for; treat that as expiry too.
inline bool says_session_unknown(long status, const std::string& body) {
  if (status != 400) return false;
  std::string l = body.substr(0, 1024);
  for (auto& c : l) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return l.find("session") != std::string::npos;
}

class StreamableHttp final : public Transport, public std::enable_shared_from_this<StreamableHttp> {
 public:
  StreamableHttp(io::Strand strand, HttpOptions options);
  ~StreamableHttp() override;

  const io::Strand& strand() const override { return strand_; }
  std::string describe() const override { return "http:" + url_; }

  void start(Handlers handlers) override;
  bool send(std::string message) override;
  void close(std::function<void()> done) override;

 private:
  enum class State { idle, running, closing, stopped };

  void flush_outbox();

  // Until the session is set up (initialize answered, notifications/initialized accepted, or a
  // new session after expiry), other messages wait: without the session id they would fail.
  bool holding() const { return init_pending_ || initialized_pending_ || reinitializing_; }

  void dispatch(Outgoing m);
  void flush_held();
  // The session's headers; with `oauth`, also the OAuth provider's current token, if any.
  std::vector<std::string> session_headers(bool initialize, bool oauth = true) const;

  // --- OAuth ---------------------------------------------------------------------------------
  // A 401, or a 403 insufficient_scope, that a new token may cure (once per message).
  bool wants_token(const Post& p, long status) const;
  // Asks the provider for a token (off the loop), then resends the message with it.
  void reauthorize(const PostPtr& p);

  // --- POST ----------------------------------------------------------------------------------
  void post(Outgoing m);
  void forget_cancelled(const std::string& notification);

  // Starts `p`'s next exchange (its POST, or a GET resuming its stream).
  void begin(const PostPtr& p, HttpRequest r);
  void on_head(Post& p, const HttpHead& h);
  bool on_body(Post& p, std::string_view chunk);
  void on_event(const SseEvent& ev);

  // A message from the server, on any stream or body.
  void incoming(std::string_view data);
  void deliver(std::string_view message);

  // Only the size limit makes a body callback stop an exchange.
  std::string failure_text(const HttpResult& r) const;

  // "HTTP 401 Unauthorized from https://host/mcp: <the first 200 bytes of the body>"
  std::string status_text(const Post& p, const HttpResult& r) const;
  void on_post_done(const PostPtr& p, const HttpResult& r);
  static std::string what(const Outgoing& m);
  void answer_with_error(const PostPtr& p, const std::string& message, long status, bool too_large = false);

  // `p` is done with: move the session set-up along.
  void finished(const PostPtr& p);

  // --- session expiry and re-initialisation --------------------------------------------------
  void session_expired(const PostPtr& p, long status);
  void begin_reinit(const std::string& why);

  // The replayed initialize answered, then the replayed notifications/initialized accepted.
  void reinit_step(const PostPtr& p);
  void reinit_failed(const std::string& why);

  // --- resuming an interrupted SSE answer ----------------------------------------------------
  void schedule_resume(const PostPtr& p);
  void on_resume_done(const PostPtr& p, const HttpResult& r);

  // --- the GET stream of server-initiated messages -------------------------------------------
  void start_get();
  void on_get_done(const HttpResult& r);
  void stop_get();

  // --- closing -------------------------------------------------------------------------------
  void do_close(std::function<void()> done);
  void finish_close();

  // The transport fails by itself: the server cannot be reached or the session not renewed.
  void fail(const std::string& reason);
  void stop_timers();
  void stop(const Closed& c);

  io::Strand strand_;
  HttpOptions opts_;
  const std::string url_;                  // redacted, for logs
  const std::vector<std::string> headers_; // configured headers and the bearer token
  std::shared_ptr<CurlMulti> multi_;
  Handlers handlers_;
  std::atomic<bool> accepting_{true};
  State state_ = State::idle;
  bool closed_reported_ = false;
  std::vector<std::function<void()>> close_waiters_;

  // The session (strand only).
  std::string session_id_;
  std::string protocol_version_;
  bool stateless_ = false;    // the last request claimed a stateless revision (2026-07-28 on)
  Outgoing init_;             // the client's initialize, replayed for a new session
  std::string initialized_;   // the client's notifications/initialized
  bool init_pending_ = false;
  bool initialized_pending_ = false;
  bool reinitializing_ = false;
  std::deque<Outgoing> held_;
  std::unordered_map<std::string, PostPtr> awaiting_;  // requests without an answer, by id
  std::unordered_set<PostPtr> resuming_;

  // The GET stream.
  ExchangeId get_ = 0;
  bool get_supported_ = true;
  bool get_open_ = false;
  long get_status_ = 0;
  int get_failures_ = 0;
  std::string get_body_;
  std::string get_last_id_;
  std::chrono::milliseconds get_retry_ = kDefaultRetry;
  SseParser get_parser_;
  asio::steady_timer get_timer_;

  Outbox<Outgoing> outbox_;
};

}  // namespace mcpd::transport::http
