#include "transport/http/curl_multi.hpp"

#include <asio/posix/stream_descriptor.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <curl/curl.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <unordered_map>

namespace mcpd::transport::http {

const std::string* HttpHead::find(std::string_view lower_name) const {
  for (const auto& [k, v] : fields)
    if (k == lower_name) return &v;
  return nullptr;
}

std::string HttpHead::media_type() const {
  const std::string* ct = find("content-type");
  if (!ct) return {};
  std::string t = ct->substr(0, ct->find(';'));
  while (!t.empty() && std::isspace(static_cast<unsigned char>(t.back()))) t.pop_back();
  for (auto& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return t;
}

namespace {

using asio::posix::stream_descriptor;

void global_init() {
  // libcurl is built thread-safe here, but initialise once, before the first handle, anyway.
  static const bool done = [] { return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK; }();
  (void)done;
}

std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

class CurlMultiImpl;

struct Exchange {
  ExchangeId id = 0;
  CurlMultiImpl* owner = nullptr;
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  HttpRequest request;
  HttpCallbacks callbacks;
  HttpHead head;
  bool head_done = false;
  bool added = false;
  bool cancelled = false;   // cancelled while curl was running: finish without calling back
  bool aborted = false;     // on_body said stop
  char error[CURL_ERROR_SIZE] = {};

  ~Exchange() {
    if (easy) curl_easy_cleanup(easy);
    if (headers) curl_slist_free_all(headers);
  }
};

// One socket curl asked us to watch. The descriptor does not own the fd (curl does): it is
// released, never closed, when curl says it is done with it.
struct SocketWatch {
  SocketWatch(const io::Strand& strand, curl_socket_t s) : fd(s), desc(strand) {}
  ~SocketWatch() { forget(); }
  void forget() {
    removed = true;
    if (desc.is_open()) desc.release();  // deregisters from the reactor, aborts waits
  }
  curl_socket_t fd;
  stream_descriptor desc;
  int want = 0;          // CURL_POLL_IN / OUT / INOUT
  bool reading = false;  // a read wait is pending
  bool writing = false;
  bool removed = false;
};

class CurlMultiImpl final : public CurlMulti, public std::enable_shared_from_this<CurlMultiImpl> {
 public:
  CurlMultiImpl(io::Strand strand, ConnectOptions options)
      : strand_(std::move(strand)), opts_(std::move(options)), timer_(strand_) {
    global_init();
    multi_ = curl_multi_init();
    curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &CurlMultiImpl::socket_cb);
    curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
    curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &CurlMultiImpl::timer_cb);
    curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
  }

  ~CurlMultiImpl() override { release_all(); }

  ExchangeId start(HttpRequest request, HttpCallbacks callbacks) override {
    if (!multi_ || closing_) return 0;
    auto ex = std::make_unique<Exchange>();
    ex->id = next_id_++;
    ex->owner = this;
    ex->request = std::move(request);
    ex->callbacks = std::move(callbacks);
    if (!configure(*ex)) {
      // Only a failure to allocate gets here; report it the way every other failure goes.
      asio::post(strand_, [cb = std::move(ex->callbacks.on_done)] {
        if (cb) cb(HttpResult{0, "cannot set up an HTTP request (out of memory?)", false});
      });
      return 0;
    }
    ExchangeId id = ex->id;
    exchanges_.emplace(id, std::move(ex));
    if (depth_ > 0) {  // inside a curl callback: curl_multi_add_handle would be refused
      asio::post(strand_, [self = shared_from_this(), id] { self->add(id); });
    } else {
      add(id);
    }
    return id;
  }

  void cancel(ExchangeId id) override {
    auto it = exchanges_.find(id);
    if (it == exchanges_.end()) return;
    if (depth_ > 0) {  // curl is running: let the transfer fail at its next callback
      it->second->cancelled = true;
      asio::post(strand_, [self = shared_from_this(), id] { self->cancel(id); });
      return;
    }
    auto ex = std::move(it->second);
    exchanges_.erase(it);
    if (ex->added) {
      ++depth_;
      curl_multi_remove_handle(multi_, ex->easy);
      --depth_;
    }
  }

  void cancel_all() override {
    std::vector<ExchangeId> ids;
    ids.reserve(exchanges_.size());
    for (const auto& [id, ex] : exchanges_) ids.push_back(id);
    for (ExchangeId id : ids) cancel(id);
  }

  void shutdown() override {
    if (!multi_) return;
    closing_ = true;
    if (depth_ > 0) {  // curl is running: silence every exchange now, release curl after
      for (auto& [id, ex] : exchanges_) ex->cancelled = true;
      asio::post(strand_, [self = shared_from_this()] { self->shutdown(); });
      return;
    }
    release_all();
  }

  std::size_t active() const override { return exchanges_.size(); }

 private:
  bool configure(Exchange& ex) {
    ex.easy = curl_easy_init();
    if (!ex.easy) return false;
    CURL* e = ex.easy;
    const HttpRequest& r = ex.request;
    curl_easy_setopt(e, CURLOPT_URL, r.url.c_str());
    curl_easy_setopt(e, CURLOPT_PRIVATE, &ex);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);  // many threads: no SIGALRM-based DNS timeouts
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "mcpd");
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);  // notices a peer gone quiet under a long stream
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, ex.error);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &CurlMultiImpl::header_cb);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, &ex);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &CurlMultiImpl::write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &ex);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(opts_.connect_timeout.count()));
    if (r.timeout.count() > 0) curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(r.timeout.count()));
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, opts_.tls_verify ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, opts_.tls_verify ? 2L : 0L);
    if (!opts_.ca_file.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, opts_.ca_file.c_str());
    if (r.method == "POST") {
      curl_easy_setopt(e, CURLOPT_POST, 1L);
      curl_easy_setopt(e, CURLOPT_POSTFIELDS, r.body.data());
      curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r.body.size()));
    } else if (r.method == "GET") {
      curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else {
      curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r.method.c_str());
    }
    for (const auto& h : r.headers) {
      curl_slist* next = curl_slist_append(ex.headers, h.c_str());
      if (!next) return false;
      ex.headers = next;
    }
    // No "Expect: 100-continue" round trip before larger bodies: every server we talk to
    // reads the body anyway, and some answer the expectation late.
    curl_slist* next = curl_slist_append(ex.headers, "Expect:");
    if (!next) return false;
    ex.headers = next;
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, ex.headers);
    return true;
  }

  void add(ExchangeId id) {
    auto it = exchanges_.find(id);
    if (it == exchanges_.end() || !multi_) return;
    Exchange& ex = *it->second;
    ++depth_;
    CURLMcode rc = curl_multi_add_handle(multi_, ex.easy);
    --depth_;
    if (rc != CURLM_OK) {
      auto owned = std::move(it->second);
      exchanges_.erase(it);
      if (owned->callbacks.on_done)
        owned->callbacks.on_done(HttpResult{0, std::string("curl refused the request: ") + curl_multi_strerror(rc), false});
      return;
    }
    ex.added = true;
  }

  // --- curl callbacks (run inside curl calls, on the strand) ---------------------------------
  static size_t header_cb(char* buf, size_t size, size_t n, void* userp) {
    auto* ex = static_cast<Exchange*>(userp);
    const size_t len = size * n;
    if (ex->cancelled) return 0;
    std::string_view line(buf, len);
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
    if (line.rfind("HTTP/", 0) == 0) {  // a new header block (after 1xx ones, the final one)
      ex->head = HttpHead{};
      auto sp = line.find(' ');
      if (sp != std::string_view::npos) {
        auto rest = line.substr(sp + 1);
        auto sp2 = rest.find(' ');
        ex->head.status = std::atol(std::string(rest.substr(0, sp2)).c_str());
        if (sp2 != std::string_view::npos) ex->head.reason = trim(rest.substr(sp2 + 1));
      }
    } else if (line.empty()) {
      if (ex->head.status >= 200 && !ex->head_done) {
        ex->head_done = true;
        if (ex->callbacks.on_head) ex->callbacks.on_head(ex->head);
      }
    } else if (auto colon = line.find(':'); colon != std::string_view::npos) {
      std::string name(line.substr(0, colon));
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      ex->head.fields.emplace_back(std::move(name), trim(line.substr(colon + 1)));
    }
    return ex->cancelled ? 0 : len;
  }

  static size_t write_cb(char* buf, size_t size, size_t n, void* userp) {
    auto* ex = static_cast<Exchange*>(userp);
    const size_t len = size * n;
    if (ex->cancelled) return 0;
    if (ex->callbacks.on_body && !ex->callbacks.on_body(std::string_view(buf, len))) {
      ex->aborted = true;
      return 0;
    }
    return ex->cancelled ? 0 : len;
  }

  static int socket_cb(CURL*, curl_socket_t s, int what, void* userp, void* socketp) {
    auto* self = static_cast<CurlMultiImpl*>(userp);
    auto* watch = static_cast<SocketWatch*>(socketp);
    if (what == CURL_POLL_REMOVE) {
      if (watch) {
        watch->forget();
        self->sockets_.erase(s);
      }
      return 0;
    }
    if (!watch) {
      auto w = std::make_shared<SocketWatch>(self->strand_, s);
      std::error_code ec;
      w->desc.assign(s, ec);
      if (ec) {
        spdlog::error("http: cannot watch socket {}: {}", s, ec.message());
        return -1;
      }
      watch = w.get();
      self->sockets_[s] = std::move(w);
      curl_multi_assign(self->multi_, s, watch);
    }
    auto it = self->sockets_.find(s);
    if (it == self->sockets_.end()) return 0;
    it->second->want = what;
    self->arm(it->second);
    return 0;
  }

  static int timer_cb(CURLM*, long timeout_ms, void* userp) {
    auto* self = static_cast<CurlMultiImpl*>(userp);
    if (timeout_ms < 0) {
      self->timer_.cancel();
      return 0;
    }
    // Never call back into curl from here: a zero timeout runs on the next turn of the loop.
    self->timer_.expires_after(std::chrono::milliseconds(timeout_ms));
    self->timer_.async_wait([weak = self->weak_from_this()](const std::error_code& ec) {
      auto s = weak.lock();
      if (!ec && s) s->drive(CURL_SOCKET_TIMEOUT, 0);
    });
    return 0;
  }

  // --- driving -------------------------------------------------------------------------------
  // Waits for what curl wants on a socket. A wait re-arms the (edge-triggered) registration,
  // so readiness that arrived before the wait is not lost. Handlers hold the multi weakly:
  // a pending wait must not keep an abandoned multi (and its connections) alive.
  void arm(const std::shared_ptr<SocketWatch>& w) {
    if ((w->want & CURL_POLL_IN) && !w->reading) {
      w->reading = true;
      w->desc.async_wait(stream_descriptor::wait_read, [weak = weak_from_this(), w](const std::error_code& ec) {
        w->reading = false;
        auto self = weak.lock();
        if (ec || !self || w->removed || !(w->want & CURL_POLL_IN)) return;
        self->drive(w->fd, CURL_CSELECT_IN);
        if (!w->removed) self->arm(w);
      });
    }
    if ((w->want & CURL_POLL_OUT) && !w->writing) {
      w->writing = true;
      w->desc.async_wait(stream_descriptor::wait_write, [weak = weak_from_this(), w](const std::error_code& ec) {
        w->writing = false;
        auto self = weak.lock();
        if (ec || !self || w->removed || !(w->want & CURL_POLL_OUT)) return;
        self->drive(w->fd, CURL_CSELECT_OUT);
        if (!w->removed) self->arm(w);
      });
    }
  }

  void drive(curl_socket_t fd, int events) {
    if (!multi_) return;
    int running = 0;
    ++depth_;
    curl_multi_socket_action(multi_, fd, events, &running);
    --depth_;
    collect_finished();
  }

  void collect_finished() {
    while (multi_) {
      int left = 0;
      CURLMsg* msg = curl_multi_info_read(multi_, &left);
      if (!msg) break;
      if (msg->msg != CURLMSG_DONE) continue;
      CURL* easy = msg->easy_handle;
      CURLcode rc = msg->data.result;  // copied: msg dies with remove_handle
      Exchange* raw = nullptr;
      curl_easy_getinfo(easy, CURLINFO_PRIVATE, &raw);
      ++depth_;
      curl_multi_remove_handle(multi_, easy);
      --depth_;
      auto it = exchanges_.find(raw->id);
      if (it == exchanges_.end()) continue;
      auto ex = std::move(it->second);
      exchanges_.erase(it);
      if (ex->cancelled) continue;
      HttpResult r;
      curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &r.status);
      r.aborted = ex->aborted;
      if (rc != CURLE_OK && !ex->aborted) r.error = ex->error[0] ? ex->error : curl_easy_strerror(rc);
      if (ex->callbacks.on_done) ex->callbacks.on_done(r);  // may start, cancel or shut down
    }
  }

  // Stops watching every socket before curl closes them: releasing first means the reactor
  // never holds an fd number curl has closed (and another thread may have reused).
  void release_all() {
    if (!multi_) return;
    for (auto& [fd, w] : sockets_) w->forget();
    sockets_.clear();
    timer_.cancel();
    curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, nullptr);
    curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, nullptr);
    for (auto& [id, ex] : exchanges_)
      if (ex->added) curl_multi_remove_handle(multi_, ex->easy);
    exchanges_.clear();
    curl_multi_cleanup(multi_);
    multi_ = nullptr;
  }

  io::Strand strand_;
  ConnectOptions opts_;
  asio::steady_timer timer_;
  CURLM* multi_ = nullptr;
  int depth_ = 0;         // > 0 while inside a curl call (its callbacks may run)
  bool closing_ = false;
  ExchangeId next_id_ = 1;
  std::unordered_map<ExchangeId, std::unique_ptr<Exchange>> exchanges_;
  std::unordered_map<curl_socket_t, std::shared_ptr<SocketWatch>> sockets_;
};

}  // namespace

std::shared_ptr<CurlMulti> make_curl_multi(io::Strand strand, ConnectOptions options) {
  return std::make_shared<CurlMultiImpl>(std::move(strand), std::move(options));
}

}  // namespace mcpd::transport::http
