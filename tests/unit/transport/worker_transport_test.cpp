// WorkerTransport and its bounded Channel: in-process workers, backpressure, cancellation.
#include "transport/worker_transport.hpp"
#include "support/test_support.hpp"

#include <catch2/catch.hpp>

#include <atomic>

using namespace mcpd;
using namespace mcpd::test;
using namespace mcpd::transport;

TEST_CASE("a channel is bounded and reports closing to a blocked reader") {
  Channel ch(2);
  CHECK(ch.try_push("a"));
  CHECK(ch.try_push("b"));
  CHECK_FALSE(ch.try_push("c"));
  std::stop_source stop;
  CHECK(ch.pop(stop.get_token()) == "a");
  CHECK(ch.try_push("c"));
  std::atomic<bool> reader_done{false};
  std::thread reader([&] {
    while (ch.pop(stop.get_token())) {
    }
    reader_done = true;
  });
  ch.close();
  reader.join();
  CHECK(reader_done);
  CHECK_FALSE(ch.try_push("d"));
}

TEST_CASE("a worker answers through the transport and its thread ends when cancelled") {
  io::Loop loop(1);
  std::atomic<bool> worker_running{false}, worker_returned{false};
  auto t = make_worker_transport(loop.make_strand(), {"upper"}, [&](WorkerIo& io) {
    worker_running = true;
    while (auto m = io.receive()) {
      std::string up = *m;
      for (auto& ch : up) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      io.send(up);
    }
    worker_returned = true;
  });
  Slot<std::string> reply;
  Slot<Closed> closed;
  t->start({[cb = reply.callback()](std::string_view m) { cb(std::string(m)); }, closed.callback()});
  REQUIRE(t->send("hello"));
  CHECK(reply.get() == "HELLO");
  CHECK(worker_running);
  t->cancel();
  Closed c = closed.get();
  CHECK(c.reason == "cancelled");
  CHECK(c.requested);
  CHECK(wait_until([&] { return worker_returned.load(); }));
  CHECK_FALSE(t->send("more"));
}

TEST_CASE("a worker that returns on its own closes the transport") {
  io::Loop loop(1);
  auto t = make_worker_transport(loop.make_strand(), {"once"}, [](WorkerIo& io) {
    if (auto m = io.receive()) io.send("bye");
  });
  Slot<Closed> closed;
  Slot<std::string> msg;
  t->start({[cb = msg.callback()](std::string_view m) { cb(std::string(m)); }, closed.callback()});
  t->send("x");
  CHECK(msg.get() == "bye");
  CHECK(closed.get().reason == "worker exited");
}

TEST_CASE("close tells its caller even when the owner lets go of the transport at once or the worker had ended") {
  io::Loop loop(1);
  auto echo = [](WorkerIo& io) {
    while (auto m = io.receive()) io.send(*m);
  };
  {
    // What a session does on shutdown: ask for the close, then drop the transport.
    auto t = make_worker_transport(loop.make_strand(), {"dropped"}, echo);
    Slot<Closed> closed;
    t->start({[](std::string_view) {}, closed.callback()});
    Slot<bool> done;
    t->close([cb = done.callback()] { cb(true); });
    t.reset();
    CHECK(done.get());
    CHECK(closed.get().requested);
  }
  {
    // A worker that already returned: a later close still reports done.
    auto t = make_worker_transport(loop.make_strand(), {"ended"}, [](WorkerIo&) {});
    Slot<Closed> closed;
    t->start({[](std::string_view) {}, closed.callback()});
    CHECK(closed.get().reason == "worker exited");
    Slot<bool> done;
    t->close([cb = done.callback()] { cb(true); });
    CHECK(done.get());
  }
}
