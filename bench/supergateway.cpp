#include "supergateway.hpp"

#include "session_open.hpp"

#include "support/nats_server.hpp"
#include "support/test_support.hpp"
#include "transport/http/streamable_http_transport.hpp"

#include <csignal>
#include <future>
#include <spawn.h>
#include <stdexcept>
#include <sys/wait.h>
#include <vector>

namespace mcpd::bench {

using namespace std::chrono_literals;

Supergateway::Supergateway(const std::string& gateway, const std::string& server) {
  const int port = test::free_loopback_port();
  std::vector<std::string> args = {gateway,   "--stdio",    server, "--outputTransport", "streamableHttp",
                                   "--stateful", "--port", std::to_string(port), "--logLevel", "none"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);  // its own group: stopped with its child
  const int rc = ::posix_spawn(&pid_, gateway.c_str(), nullptr, &attr, argv.data(), environ);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) throw std::runtime_error("cannot start " + gateway);
  try {
    if (!test::wait_until([&] { return test::loopback_port_accepts(port); }, 20s))
      throw std::runtime_error("supergateway did not listen on port " + std::to_string(port));
    transport::HttpOptions h;
    h.name = "supergateway";
    h.url = "http://127.0.0.1:" + std::to_string(port) + "/mcp";
    mcp::SessionOptions s;
    s.name = "supergateway";
    s.request_timeout = 30s;
    session_ = mcp::ClientSession::create(transport::make_streamable_http_transport(loop_.make_strand(), h), s);
    open_or_throw(*session_, "supergateway");
  } catch (...) {
    stop();  // the destructor does not run when the constructor throws: supergateway must not outlive the bench
    throw;
  }
}

Supergateway::~Supergateway() { stop(); }

void Supergateway::stop() {
  if (session_) {
    close_within_10s(*session_, "supergateway");
    session_.reset();
  }
  loop_.stop();
  if (pid_ > 0) {
    ::kill(-pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
}

Result<Json> Supergateway::call(const std::string& tool, const Json& arguments) {
  auto answer = std::make_shared<std::promise<Result<Json>>>();
  auto got = answer->get_future();
  session_->call_tool(tool, arguments, mcp::CallOptions{}, [answer](Result<Json> r) { answer->set_value(std::move(r)); });
  return got.get();  // the session's request timeout bounds the wait
}

}  // namespace mcpd::bench
