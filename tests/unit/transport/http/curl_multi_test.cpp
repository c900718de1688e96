// CurlMulti on the Asio loop: exchanges complete (or fail) with curl's words on the strand,
// timeouts end stalled exchanges, and cancel/shutdown with exchanges in flight call nothing
// back and leave nothing behind (ASan checks the last part).
#include "transport/http/curl_multi.hpp"

#include "support/test_support.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <asio/post.hpp>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>

using namespace mcpd;
using namespace mcpd::transport::http;
using namespace mcpd::test;

namespace {

// A socket that listens and never accepts: the kernel completes connections, nobody answers.
struct SilentListener {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int port = 0;
  SilentListener() {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd, 64) == 0);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~SilentListener() { ::close(fd); }
  // Connections the kernel has completed and queued for an accept that never comes: for a
  // listening socket Linux reports the accept queue's length in tcpi_unacked.
  std::size_t queued() const {
    tcp_info info{};
    socklen_t len = sizeof info;
    REQUIRE(::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) == 0);
    return info.tcpi_unacked;
  }
};

int closed_port() {
  SilentListener l;
  return l.port;  // closed again when `l` goes
}

// Runs `f` on the strand and waits for it.
template <typename F>
void on_strand(const io::Strand& strand, F f) {
  Slot<bool> done;
  asio::post(strand, [&, cb = done.callback()] {
    f();
    cb(true);
  });
  done.get();
}

}  // namespace

TEST_CASE("curl multi: a refused connection completes with curl's error - on the strand") {
  io::Loop loop{2};
  auto strand = loop.make_strand();
  auto multi = make_curl_multi(strand, {});
  Slot<HttpResult> result;
  std::atomic<bool> on_strand_thread{false};
  on_strand(strand, [&] {
    HttpRequest r;
    r.url = "http://127.0.0.1:" + std::to_string(closed_port()) + "/mcp";
    multi->start(r, HttpCallbacks{{}, {}, [&, cb = result.callback()](const HttpResult& res) {
                                    on_strand_thread = strand.running_in_this_thread();
                                    cb(res);
                                  }});
  });
  auto r = result.get(10s);
  CHECK_FALSE(r.ok());
  CHECK(r.status == 0);
  CHECK_THAT(r.error, Catch::Contains("Couldn't connect") || Catch::Contains("Connection refused"));
  CHECK(on_strand_thread.load());
  on_strand(strand, [&] { multi->shutdown(); });
}

TEST_CASE("curl multi: a request timeout ends a stalled exchange") {
  io::Loop loop{1};
  auto strand = loop.make_strand();
  auto multi = make_curl_multi(strand, {});
  SilentListener silent;
  Slot<HttpResult> result;
  auto t0 = std::chrono::steady_clock::now();
  on_strand(strand, [&] {
    HttpRequest r;
    r.method = "POST";
    r.url = "http://127.0.0.1:" + std::to_string(silent.port) + "/mcp";
    r.body = R"({"jsonrpc":"2.0","id":1,"method":"ping"})";
    r.timeout = 300ms;
    multi->start(r, HttpCallbacks{{}, {}, result.callback()});
  });
  auto r = result.get(10s);
  CHECK_THAT(r.error, Catch::Contains("timed out"));
  CHECK(std::chrono::steady_clock::now() - t0 < 5s);
  on_strand(strand, [&] { multi->shutdown(); });
}

TEST_CASE("curl multi: cancel and shutdown with exchanges in flight call nothing back") {
  io::Loop loop{2};
  auto strand = loop.make_strand();
  auto multi = make_curl_multi(strand, {});
  SilentListener silent;
  std::atomic<int> callbacks{0};
  std::vector<ExchangeId> ids;
  on_strand(strand, [&] {
    for (int i = 0; i < 20; ++i) {
      HttpRequest r;
      r.url = "http://127.0.0.1:" + std::to_string(silent.port) + "/stream";
      ids.push_back(multi->start(r, HttpCallbacks{[&](const HttpHead&) { ++callbacks; },
                                                  [&](std::string_view) { ++callbacks; return true; },
                                                  [&](const HttpResult&) { ++callbacks; }}));
    }
  });
  // Let the connections open (curl has made all 20: the listener holds them, unaccepted), then
  // cancel some and shut down with the rest in flight.
  CHECK(wait_until([&] {
    std::size_t n = 0;
    on_strand(strand, [&] { n = multi->active(); });
    return n == 20;
  }));
  REQUIRE(wait_until([&] { return silent.queued() == 20; }));
  on_strand(strand, [&] {
    multi->cancel(ids[0]);
    multi->cancel(ids[1]);
    multi->cancel(12345);  // unknown: ignored
    CHECK(multi->active() == 18);
    multi->shutdown();
    multi->shutdown();  // idempotent
    CHECK(multi->active() == 0);
    HttpRequest late;
    late.url = "http://127.0.0.1:1/";
    CHECK(multi->start(late, HttpCallbacks{{}, {}, [&](const HttpResult&) { ++callbacks; }}) == 0);
  });
  // Every callback runs on the strand, so a no-op posted there after the shutdown runs after
  // whatever the shutdown queued on it. Twice: a socket wait the shutdown aborted reaches the
  // strand through the loop's queue first (its handler only sees operation_aborted anyway).
  on_strand(strand, [] {});
  on_strand(strand, [] {});
  CHECK(callbacks.load() == 0);
}
