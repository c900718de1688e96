// CurlMulti: HTTP exchanges (libcurl easy handles) driven by one curl multi handle on an Asio
// strand. curl says which sockets to watch and when to wake it (CURLMOPT_SOCKETFUNCTION,
// CURLMOPT_TIMERFUNCTION); we watch them with asio::posix::stream_descriptor waits and one
// asio::steady_timer, so no thread blocks on I/O and every callback of every exchange runs on
// the strand. Connections are kept and reused across exchanges (HTTP/1.1 keep-alive, HTTP/2
// multiplexing over TLS), and any number of exchanges may be in flight at once.
//
// Thread-safety: every member must be called on the strand. Callbacks may start or cancel
// exchanges (including their own): work that curl forbids inside its callbacks is deferred.
#pragma once

#include "io/loop.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mcpd::transport::http {

struct ConnectOptions {
  std::chrono::milliseconds connect_timeout{10000};
  std::string ca_file;     // empty: the system's CA bundle
  bool tls_verify = true;
};

struct HttpRequest {
  std::string method = "GET";            // GET, POST or DELETE
  std::string url;
  std::vector<std::string> headers;      // "Name: value" lines
  std::string body;                      // POST only
  std::chrono::milliseconds timeout{0};  // the whole exchange; 0 = no limit (streams)
};

// The header block of the final (non-1xx) response.
struct HttpHead {
  long status = 0;
  std::string reason;                                        // "Not Found"; empty on HTTP/2
  std::vector<std::pair<std::string, std::string>> fields;   // names lower-cased
  // The first field called `lower_name`, or nullptr.
  const std::string* find(std::string_view lower_name) const;
  // The media type without parameters, lower-cased: "text/event-stream".
  std::string media_type() const;
};

struct HttpResult {
  long status = 0;      // 0 when no response head arrived
  std::string error;    // why the exchange failed below HTTP (curl's words); empty on success
  bool aborted = false; // a body callback returned false
  bool ok() const { return error.empty() && !aborted; }
};

struct HttpCallbacks {
  std::function<void(const HttpHead&)> on_head;      // once, before any body
  std::function<bool(std::string_view)> on_body;     // each body chunk; false aborts the exchange
  std::function<void(const HttpResult&)> on_done;    // exactly once, unless cancelled
};

using ExchangeId = std::uint64_t;

class CurlMulti {
 public:
  virtual ~CurlMulti() = default;
  // Starts an exchange; its callbacks run on the strand. Returns an id for cancel().
  virtual ExchangeId start(HttpRequest request, HttpCallbacks callbacks) = 0;
  // Stops an exchange; its on_done is not called. Unknown or finished ids are ignored.
  virtual void cancel(ExchangeId id) = 0;
  // Cancels every exchange; the multi stays usable (and keeps its connections).
  virtual void cancel_all() = 0;
  // Cancels every exchange and releases curl and every socket watch. Idempotent; start() is
  // refused afterwards (returns 0, never calls back).
  virtual void shutdown() = 0;
  virtual std::size_t active() const = 0;
};

std::shared_ptr<CurlMulti> make_curl_multi(io::Strand strand, ConnectOptions options);

}  // namespace mcpd::transport::http
