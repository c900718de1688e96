// What the bus tests share: nats.c's shutdown at process exit (which fails the run if a
// Connection, Subscription, KeyValue or watch leaked a nats.c object), a client connection with
// quick reconnects to a test nats-server, and the KeyValue helpers (a bucket, a JetStream
// server, a watch's events as strings).
#pragma once

#include "bus/connection.hpp"
#include "bus/kv.hpp"
#include "support/nats_server.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace mcpd::test {

using namespace std::chrono_literals;

// nats.c's documented shutdown order ends with the library itself, done here at process exit,
// after the tests: nats_CloseAndWait waits while any nats.c object is alive. One per program.
struct NatsLibraryForTheRun {
  bus::Library library;
  ~NatsLibraryForTheRun() {
    if (!library.shutdown(5s)) {
      std::fprintf(stderr, "nats.c did not shut down within 5 s: a connection, subscription, KV store or watch "
                           "was not released\n");
      std::_Exit(1);
    }
  }
};
inline NatsLibraryForTheRun nats_library_for_the_run;

// Quick reconnects so that restart tests stay well under a second.
inline bus::Options options_for(const NatsServer& server, std::string name = "test") {
  bus::Options o;
  o.servers = {server.url()};
  o.name = std::move(name);
  o.reconnect_wait = 20ms;
  o.reconnect_wait_max = 100ms;
  o.reconnect_jitter = 10ms;
  o.connect_timeout = 1000ms;
  return o;
}

inline std::shared_ptr<bus::Connection> connect(const NatsServer& server, std::string name = "test") {
  auto c = bus::Connection::connect(options_for(server, std::move(name)));
  if (!c.ok()) FAIL(c.error().message);
  return std::move(c).value();
}

inline NatsServerOptions with_jetstream() {
  NatsServerOptions o;
  o.jetstream = true;
  return o;
}

inline bus::KvOptions bucket(std::string name = "kvtest") {
  bus::KvOptions o;
  o.bucket = std::move(name);
  return o;
}

inline std::unique_ptr<bus::KeyValue> open(bus::Connection& c, bus::KvOptions o = bucket()) {
  auto kv = bus::KeyValue::open(c, std::move(o));
  if (!kv.ok()) FAIL(kv.error().message);
  return std::move(kv).value();
}

// What a watch reported, as strings: "put k=v", "del k", "purge k", "init".
struct Events {
  std::mutex mu;
  std::vector<std::string> items;
  std::vector<std::uint64_t> revisions;
  std::function<void(const bus::KvEntry&)> on_entry() {
    return [this](const bus::KvEntry& e) {
      std::lock_guard lock(mu);
      switch (e.op) {
        case bus::KvEntry::Op::put: items.push_back("put " + e.key + "=" + e.value); break;
        case bus::KvEntry::Op::del: items.push_back("del " + e.key); break;
        case bus::KvEntry::Op::purge: items.push_back("purge " + e.key); break;
      }
      revisions.push_back(e.revision);
    };
  }
  std::function<void()> on_initial_done() {
    return [this] {
      std::lock_guard lock(mu);
      items.push_back("init");
    };
  }
  std::vector<std::string> snapshot() {
    std::lock_guard lock(mu);
    return items;
  }
  std::size_t size() { return snapshot().size(); }
  bool contains(const std::string& s) {
    auto v = snapshot();
    return std::find(v.begin(), v.end(), s) != v.end();
  }
};

}  // namespace mcpd::test
