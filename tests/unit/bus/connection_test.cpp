// bus::Connection against a real nats-server: publish/subscribe, queue groups, request/reply with
// headers, no responders, timeouts, late replies, connecting before the server is up, reconnects,
// drain, subscription teardown under load, concurrency, and oversized payloads.
#include "bus/connection.hpp"
#include "support/bus_fixture.hpp"
#include "support/log_capture.hpp"
#include "support/nats_server.hpp"
#include "support/test_support.hpp"

#include <catch2/catch.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

using namespace mcpd;
using namespace mcpd::test;
using bus::Connection;
using bus::Message;

namespace {

using Clock = std::chrono::steady_clock;

std::unique_ptr<bus::Subscription> subscribe(Connection& c, const std::string& subject, bus::MessageHandler h,
                                             const std::string& queue = {}) {
  auto s = c.subscribe(subject, queue, std::move(h));
  if (!s.ok()) FAIL(s.error().message);
  REQUIRE(c.flush(2s).ok());  // the server has the interest before anyone publishes
  return std::move(s).value();
}

// A responder that echoes the request's payload.
std::unique_ptr<bus::Subscription> echo(std::shared_ptr<Connection> c, const std::string& subject) {
  return subscribe(*c, subject, [c](Message m) {
    (void)c->respond(m.reply(), m.data());  // a lost echo shows as the request timing out
  });
}

struct Collected {
  std::mutex mu;
  std::vector<std::string> data;
  std::size_t size() {
    std::lock_guard lock(mu);
    return data.size();
  }
};

}  // namespace

TEST_CASE("published messages reach a subscriber in order with subject and payload") {
  NatsServer server;
  auto c = connect(server);
  Collected got;
  std::atomic<bool> had_reply{false}, had_header{false};
  auto sub = subscribe(*c, "t.a", [&](Message m) {
    if (!m.reply().empty()) had_reply = true;
    if (m.header("X-Anything")) had_header = true;
    std::lock_guard lock(got.mu);
    got.data.push_back(std::string(m.subject()) + "=" + std::string(m.data()));
  });
  for (int i = 0; i < 10; ++i) REQUIRE(c->publish("t.a", std::to_string(i)).ok());
  REQUIRE(wait_until([&] { return got.size() == 10; }, 3s));
  for (int i = 0; i < 10; ++i) CHECK(got.data[i] == "t.a=" + std::to_string(i));
  CHECK_FALSE(had_reply);
  CHECK_FALSE(had_header);
  CHECK(sub->subject() == "t.a");
  CHECK(c->connected());
  CHECK(c->connected_url() == server.url());
  CHECK(c->stats().out_msgs >= 10);
}

TEST_CASE("two subscribers in one queue group share the messages") {
  NatsServer server;
  auto a = connect(server, "a"), b = connect(server, "b"), pub = connect(server, "pub");
  std::atomic<int> got_a{0}, got_b{0};
  auto sa = subscribe(*a, "work", [&](Message) { ++got_a; }, "workers");
  auto sb = subscribe(*b, "work", [&](Message) { ++got_b; }, "workers");
  CHECK(sa->queue_group() == "workers");
  for (int i = 0; i < 200; ++i) REQUIRE(pub->publish("work", "job").ok());
  REQUIRE(pub->flush(2s).ok());
  REQUIRE(wait_until([&] { return got_a + got_b == 200; }, 3s));
  // Once more through both subscribers' connections: nothing else was on its way.
  REQUIRE(a->flush(2s).ok());
  REQUIRE(b->flush(2s).ok());
  CHECK(got_a + got_b == 200);
  CHECK(got_a > 0);
  CHECK(got_b > 0);
}

TEST_CASE("request and reply carry headers both ways") {
  NatsServer server;
  auto svc = connect(server, "svc"), cli = connect(server, "cli");
  auto sub = subscribe(*svc, "svc.fail", [svc](Message m) {
    bus::Headers h = {{std::string(bus::kServiceErrorHeader), "tool exploded"},
                      {std::string(bus::kServiceErrorCodeHeader), "500"},
                      {"X-Echo", m.header("X-Request").value_or("missing")}};
    (void)svc->respond(m.reply(), R"({"error":"tool exploded"})", h);  // a lost reply fails the request below
  });
  auto reply = cli->request("svc.fail", "{}", 2s, {{"X-Request", "abc"}});
  REQUIRE(reply.ok());
  CHECK(reply->data() == R"({"error":"tool exploded"})");
  CHECK(reply->header("Nats-Service-Error") == "tool exploded");
  CHECK(reply->header("Nats-Service-Error-Code") == "500");
  CHECK(reply->header("X-Echo") == "abc");
  CHECK_FALSE(reply->header("Nope"));
  bus::Headers all = reply->headers();
  CHECK(std::count(all.begin(), all.end(), std::pair<std::string, std::string>("X-Echo", "abc")) == 1);
}

TEST_CASE("a request nobody serves fails at once as unavailable") {
  NatsServer server;
  auto c = connect(server);
  auto start = Clock::now();
  auto r = c->request("nobody.home", "hi", 5s);
  auto elapsed = Clock::now() - start;
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::unavailable);
  CHECK(r.error().message == "no responders for nobody.home");
  CHECK(bus::is_no_responders(r.error()));
  CHECK(elapsed < 1s);
}

TEST_CASE("a request that gets no answer in time fails with timeout") {
  NatsServer server;
  auto c = connect(server);
  std::atomic<int> seen{0};
  auto sub = subscribe(*c, "svc.silent", [&](Message) { ++seen; });  // never answers
  auto start = Clock::now();
  auto r = c->request("svc.silent", "hi", 200ms);
  auto elapsed = Clock::now() - start;
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::timeout);
  CHECK_FALSE(bus::is_no_responders(r.error()));
  CHECK(elapsed >= 190ms);
  CHECK(elapsed < 2s);
  CHECK(seen == 1);
}

TEST_CASE("a subject taken from a message is publishable only when plain") {
  for (const char* ok : {"_INBOX.abc123", "_INBOX.abc.1", "reply", "a-b_c.D/e=f"}) {
    INFO(ok);
    CHECK(bus::is_publish_subject(ok));
  }
  for (const char* bad : {"", ".", "a.", ".a", "a..b", "a.*", "a.>", "a*b", "two words", "tab\there", "new\nline",
                          "caf\xc3\xa9", "del\x7f"}) {
    INFO(bad);
    CHECK_FALSE(bus::is_publish_subject(bad));
  }
  CHECK(bus::is_publish_subject(std::string(bus::kMaxPublishSubjectBytes, 'x')));
  CHECK_FALSE(bus::is_publish_subject(std::string(bus::kMaxPublishSubjectBytes + 1, 'x')));
}

TEST_CASE("a handler may answer later from another thread") {
  NatsServer server;
  auto svc = connect(server, "svc"), cli = connect(server, "cli");
  // The handler only queues the work; a worker thread answers, as the node does after an MCP call.
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::pair<std::string, std::string>> work;  // reply subject, payload
  bool stop = false;
  std::thread worker([&] {
    std::unique_lock lock(mu);
    for (;;) {
      cv.wait(lock, [&] { return stop || !work.empty(); });
      if (work.empty()) return;
      auto [reply, data] = std::move(work.front());
      work.pop_front();
      lock.unlock();
      (void)svc->respond(reply, "done:" + data);  // a lost reply fails the request below
      lock.lock();
    }
  });
  auto sub = subscribe(*svc, "svc.slow", [&](Message m) {
    std::lock_guard lock(mu);
    work.emplace_back(std::string(m.reply()), std::string(m.data()));
    cv.notify_one();
  });
  for (int i = 0; i < 20; ++i) {
    auto r = cli->request("svc.slow", std::to_string(i), 2s);
    REQUIRE(r.ok());
    CHECK(r->data() == "done:" + std::to_string(i));
  }
  {
    std::lock_guard lock(mu);
    stop = true;
  }
  cv.notify_one();
  worker.join();
}

TEST_CASE("connecting while NATS is down succeeds once the server starts") {
  NatsServer server(NatsServerOptions::not_started());
  auto start = Clock::now();
  auto c = connect(server, "early");
  CHECK(Clock::now() - start < 1s);  // returned at once, not after a connect timeout
  CHECK_FALSE(c->connected());
  std::atomic<int> connected_events{0};
  c->on_reconnected([&] { ++connected_events; });
  auto made_early = c->subscribe("early.echo", "", [c](Message m) {
    (void)c->respond(m.reply(), m.data());  // a lost echo shows as the request timing out
  });
  REQUIRE(made_early.ok());
  auto r = c->request("early.echo", "x", 200ms);
  CHECK((!r.ok() && r.error().code == Errc::unavailable));  // fails fast while not connected

  server.start();
  REQUIRE(wait_until([&] { return c->connected(); }, 3s));
  REQUIRE(wait_until([&] { return connected_events >= 1; }, 3s));
  CHECK(c->connected_url() == server.url());
  auto cli = connect(server, "cli");
  // The subscription made before the server existed now serves requests.
  REQUIRE(wait_until([&] { return cli->request("early.echo", "ping", 1s).ok(); }, 3s));
  auto reply = cli->request("early.echo", "pong?", 1s);
  REQUIRE(reply.ok());
  CHECK(reply->data() == "pong?");
}

TEST_CASE("after the server restarts on the same port request-reply works again") {
  NatsServer server;
  auto svc = connect(server, "svc"), cli = connect(server, "cli");
  std::atomic<int> lost{0}, back{0};
  cli->on_disconnected([&] { ++lost; });
  cli->on_reconnected([&] { ++back; });
  auto sub = echo(svc, "svc.echo");
  REQUIRE(cli->request("svc.echo", "before", 1s).ok());

  server.stop();
  REQUIRE(wait_until([&] { return lost >= 1; }, 3s));
  CHECK_FALSE(cli->connected());
  auto down = cli->request("svc.echo", "while down", 1s);
  REQUIRE_FALSE(down.ok());
  CHECK(down.error().code == Errc::unavailable);
  CHECK_FALSE(bus::is_no_responders(down.error()));  // not connected says nothing about the other side

  server.start();
  REQUIRE(wait_until([&] { return back >= 1; }, 3s));
  REQUIRE(wait_until([&] { return svc->connected(); }, 3s));
  // The responder's subscription is restored by the reconnect, without the test doing anything.
  REQUIRE(wait_until([&] { return cli->request("svc.echo", "after", 1s).ok(); }, 3s));
  auto reply = cli->request("svc.echo", "after", 1s);
  REQUIRE(reply.ok());
  CHECK(reply->data() == "after");
  CHECK(cli->stats().reconnects >= 1);
}

TEST_CASE("drain handles the messages already delivered - then closes the connection") {
  NatsServer server;
  auto sub_conn = connect(server, "sub"), pub = connect(server, "pub");
  std::atomic<int> handled{0};
  auto sub = subscribe(*sub_conn, "drain.me", [&](Message) {
    std::this_thread::sleep_for(1ms);  // slow work, so messages are still queued when drain starts
    ++handled;
  });
  for (int i = 0; i < 100; ++i) REQUIRE(pub->publish("drain.me", "m").ok());
  REQUIRE(pub->flush(2s).ok());  // the server has routed all 100 to the subscriber
  REQUIRE(wait_until([&] { return handled >= 1; }, 3s));
  CHECK(handled < 100);
  sub_conn->drain(5s);
  CHECK(handled == 100);
  CHECK(sub_conn->closed());
  CHECK(sub->wait_drained(1s));
  auto after = sub_conn->publish("drain.me", "late");
  REQUIRE_FALSE(after.ok());
  CHECK(after.error().code == Errc::unavailable);
}

TEST_CASE("a drained subscription handles its queued messages and stops") {
  NatsServer server;
  auto c = connect(server), pub = connect(server, "pub");
  std::atomic<int> handled{0};
  auto sub = subscribe(*c, "sub.drain", [&](Message) {
    std::this_thread::sleep_for(1ms);
    ++handled;
  });
  for (int i = 0; i < 50; ++i) REQUIRE(pub->publish("sub.drain", "m").ok());
  REQUIRE(pub->flush(2s).ok());
  REQUIRE(wait_until([&] { return handled >= 1; }, 3s));
  sub->drain();
  REQUIRE(sub->wait_drained(3s));
  CHECK(handled == 50);
  REQUIRE(pub->publish("sub.drain", "after").ok());
  REQUIRE(pub->flush(2s).ok());
  REQUIRE(c->flush(2s).ok());
  CHECK(handled == 50);
  CHECK(c->connected());  // only the subscription went away
}

TEST_CASE("destroying a subscription while messages flow is safe") {
  NatsServer server;
  auto c = connect(server), pub = connect(server, "pub");
  std::atomic<bool> stop{false};
  std::thread flood([&] {
    while (!stop) {
      (void)pub->publish("flood", "x");  // any steady flow will do: a lost message changes nothing
      if (pub->stats().out_msgs % 64 == 0) (void)pub->flush(1s);  // keep the flow steady, not bursty
    }
  });
  for (int round = 0; round < 20; ++round) {
    // The handler touches memory that is freed right after the Subscription: if the destructor
    // returned while the handler could still run, ASan would report a use after free.
    auto counter = std::make_unique<std::atomic<int>>(0);
    auto sub = subscribe(*c, "flood", [p = counter.get()](Message) { p->fetch_add(1); });
    REQUIRE(wait_until([&] { return counter->load() > 0; }, 3s));
    sub.reset();
    counter.reset();
  }
  stop = true;
  flood.join();
}

TEST_CASE("a subscription can be destroyed from inside its own handler") {
  NatsServer server;
  auto c = connect(server);
  std::unique_ptr<bus::Subscription> sub;
  std::atomic<int> calls{0};
  std::atomic<bool> destroyed{false};
  std::mutex mu;
  auto s = c->subscribe("self.destruct", "", [&](Message) {
    ++calls;
    std::lock_guard lock(mu);
    sub.reset();  // must neither deadlock nor free what the running handler uses
    destroyed = true;
  });
  REQUIRE(s.ok());
  {
    std::lock_guard lock(mu);
    sub = std::move(s).value();
  }
  for (int i = 0; i < 5; ++i) REQUIRE(c->publish("self.destruct", "x").ok());
  REQUIRE(wait_until([&] { return destroyed.load(); }, 3s));
  REQUIRE(c->flush(2s).ok());
  CHECK(calls == 1);
}

TEST_CASE("a subscriber that falls behind drops messages and is logged as a slow consumer once") {
  LogCapture logs;
  NatsServer server;
  auto o = options_for(server, "slow");
  o.pending_msgs_limit = 10;
  auto c = Connection::connect(o);
  REQUIRE(c.ok());
  auto conn = std::move(c).value();
  auto pub = connect(server, "pub");
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<int> handled{0};
  auto sub = subscribe(*conn, "slow.sub", [&, released](Message) {
    released.wait();  // a handler stuck on its first message: everything else queues behind it
    ++handled;
  });
  for (int i = 0; i < 100; ++i) REQUIRE(pub->publish("slow.sub", "m").ok());
  REQUIRE(pub->flush(2s).ok());
  REQUIRE(conn->flush(2s).ok());  // every message has reached the client by now
  release.set_value();
  REQUIRE(wait_until([&] { return handled + sub->dropped() == 100; }, 3s));
  CHECK(sub->dropped() > 0);
  CHECK(handled >= 10);
  CHECK(logs.count("slow consumer on 'slow.sub'") == 1);
}

TEST_CASE("a handler that throws does not stop its subscription") {
  NatsServer server;
  auto c = connect(server);
  std::atomic<int> calls{0};
  auto sub = subscribe(*c, "throws", [&](Message) {
    if (++calls == 1) throw std::runtime_error("first message fails");
  });
  REQUIRE(c->publish("throws", "1").ok());
  REQUIRE(c->publish("throws", "2").ok());
  REQUIRE(wait_until([&] { return calls == 2; }, 3s));
}

TEST_CASE("1000 concurrent requests from 4 threads are all answered") {
  NatsServer server;
  auto svc = connect(server, "svc"), cli = connect(server, "cli");
  auto sub = echo(svc, "svc.echo");
  std::atomic<int> ok{0}, wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 250; ++i) {
        std::string body = std::to_string(t) + ":" + std::to_string(i);
        auto r = cli->request("svc.echo", body, 5s);
        (r.ok() && r->data() == body ? ok : wrong)++;
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(ok == 1000);
  CHECK(wrong == 0);
}

TEST_CASE("a payload above the server's max_payload gives a clear error") {
  NatsServer server;
  auto c = connect(server);
  REQUIRE(c->max_payload() == 1024 * 1024);
  std::string big(2 * 1024 * 1024, 'x');
  auto err = c->publish("big", big);
  REQUIRE_FALSE(err.ok());
  CHECK(err.error().code == Errc::too_large);
  CHECK(err.error().message == "message of 2097152 bytes on 'big' exceeds the server's max_payload of 1048576 bytes");
  auto r = c->request("big", big, 1s, {{"X-Some", "header"}});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::too_large);
  // The connection is unharmed.
  auto sub = echo(c, "small");
  auto small = c->request("small", "fine", 1s);
  REQUIRE(small.ok());
  CHECK(small->data() == "fine");
}

TEST_CASE("without retry a connect to a server that is down fails with the URL and the reason") {
  NatsServer server(NatsServerOptions::not_started());
  auto o = options_for(server);
  o.retry_on_failed_connect = false;
  auto c = Connection::connect(o);
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().code == Errc::unavailable);
  CHECK_THAT(c.error().message, Catch::StartsWith("cannot connect to " + server.url() + ": "));
}

TEST_CASE("user and password reach the server and a wrong password is refused clearly") {
  NatsServerOptions so;
  so.extra_args = {"--user", "mcpd", "--pass", "s3cret"};
  NatsServer server(so);
  auto o = options_for(server);
  o.user = "mcpd";
  o.password = "s3cret";
  auto good = Connection::connect(o);
  REQUIRE(good.ok());
  CHECK(good.value()->connected());

  o.password = "wrong";
  o.retry_on_failed_connect = false;
  auto bad = Connection::connect(o);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().code == Errc::unavailable);
  CHECK_THAT(bad.error().message, Catch::StartsWith("cannot connect to " + server.url() + ": "));
  CHECK_THAT(bad.error().message, Catch::Contains("uthorization"));
}

TEST_CASE("a test server can run JetStream") {
  NatsServerOptions so;
  so.jetstream = true;
  NatsServer server(so);
  auto c = connect(server);
  auto info = c->request("$JS.API.INFO", "", 2s);
  REQUIRE(info.ok());
  CHECK_THAT(std::string(info->data()), Catch::Contains("io.nats.jetstream.api.v1.account_info_response"));
}

TEST_CASE("comma-separated server lists are split and a later server is used") {
  NatsServer down(NatsServerOptions::not_started()), up;
  bus::Options o = options_for(up);
  o.servers = {down.url() + ", " + up.url()};
  auto c = Connection::connect(o);
  REQUIRE(c.ok());
  REQUIRE(wait_until([&] { return c.value()->connected(); }, 3s));
  CHECK(c.value()->connected_url() == up.url());
}

// Not a correctness test: `unit_bus "[.latency]" -s` prints loopback request-reply latency.
TEST_CASE("sequential request-reply latency over loopback", "[.latency]") {
  NatsServer server;
  auto svc = connect(server, "svc"), cli = connect(server, "cli");
  auto sub = echo(svc, "lat.echo");
  for (int i = 0; i < 200; ++i) REQUIRE(cli->request("lat.echo", "warm", 1s).ok());
  std::vector<double> us;
  for (int i = 0; i < 2000; ++i) {
    auto t0 = Clock::now();
    REQUIRE(cli->request("lat.echo", "ping", 1s).ok());
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  std::sort(us.begin(), us.end());
  WARN("2000 sequential requests: p50 " << us[1000] << " us, p90 " << us[1800] << " us, p99 " << us[1980]
                                        << " us, max " << us.back() << " us");
}
