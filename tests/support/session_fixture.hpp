// One ClientSession for a test, shared by the stdio, npm and HTTP session tests: a fixture
// derived per transport builds its transport on the fixture's own loop and attaches the
// session; the fixture opens it, calls tools, lists them, and closes the session (waiting for
// the close) when it goes, each wait bounded so that a hang fails the test. Also the names in
// a tool list.
#pragma once

#include "mcp/client_session.hpp"
#include "support/test_support.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <set>
#include <string>

namespace mcpd::test {

template <typename TransportT>
struct SessionFixture {
  io::Loop loop{2};
  std::shared_ptr<TransportT> transport;
  std::shared_ptr<mcp::ClientSession> s;
  Slot<Error> closed;  // filled when the session closes without being asked to
  // How long open() and call() wait for their answer before the test fails (a hang).
  std::chrono::milliseconds open_wait = 20s, call_wait = 30s;

  SessionFixture() = default;
  SessionFixture(const SessionFixture&) = delete;
  SessionFixture& operator=(const SessionFixture&) = delete;
  ~SessionFixture() {
    if (!s) return;  // the derived constructor failed before attach()
    Slot<bool> done;
    s->close([cb = done.callback()] { cb(true); });
    done.get(30s);
  }

  // The session over `t`, which the derived fixture's constructor built on `loop`.
  void attach(std::shared_ptr<TransportT> t, mcp::SessionOptions o) {
    transport = std::move(t);
    s = mcp::ClientSession::create(transport, std::move(o));
    s->on_closed(closed.callback());
  }

  Result<mcp::ServerDescription> open() {
    Slot<Result<mcp::ServerDescription>> ready;
    s->start(ready.callback());
    return ready.get(open_wait);
  }
  // Opens the session, stopping the test unless it opens: the server's description.
  mcp::ServerDescription opened() {
    auto d = open();
    if (!d.ok()) FAIL("cannot open the session: " << d.error().message);
    return d.value();
  }
  Result<mcp::Json> call(const std::string& tool, mcp::Json args, mcp::CallOptions o = {}) {
    Slot<Result<mcp::Json>> r;
    s->call_tool(tool, std::move(args), std::move(o), r.callback());
    return r.get(call_wait);
  }
  Result<mcp::Tools> tools(bool refresh = false) {
    Slot<Result<mcp::Tools>> r;
    s->list_tools(r.callback(), refresh);
    return r.get();
  }
};

inline std::set<std::string> tool_names(const mcp::Tools& tools) {
  std::set<std::string> n;
  for (const auto& t : *tools) n.insert(t["name"].get<std::string>());
  return n;
}

}  // namespace mcpd::test
