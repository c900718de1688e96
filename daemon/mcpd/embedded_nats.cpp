// The embedded nats-server: see embedded_nats.hpp.
#include "embedded_nats.hpp"

#include "embedded_credentials.hpp"

#include <netdb.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <stdexcept>
#include <thread>

namespace mcpd::daemon {
namespace {

// The address a client on this machine reaches a server listening on `host` at.
std::string connect_host(const std::string& host) {
  if (host.empty() || host == "0.0.0.0" || host == "localhost") return "127.0.0.1";
  if (host == "::" || host == "[::]") return "::1";
  return host;
}

bool accepts_connections(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0) return false;
  bool ok = false;
  for (addrinfo* a = found; a && !ok; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    ok = ::connect(fd, a->ai_addr, a->ai_addrlen) == 0;
    ::close(fd);
  }
  ::freeaddrinfo(found);
  return ok;
}

}  // namespace

EmbeddedNats::EmbeddedNats(io::Loop& loop, const EmbeddedNatsOptions& options)
    : connect_host_(connect_host(options.host)), port_(options.port) {
  if (accepts_connections(connect_host_, port_))
    throw std::runtime_error("cannot start the embedded nats-server: " + options.host + ":" + std::to_string(port_) +
                             " is already in use (point [nats] url at that server, or set [nats.embedded] port)");
  const auto state_dir = std::filesystem::absolute(options.state_dir);
  login_ = ensure_local_login(state_dir, url());
  const auto conf = write_server_config(state_dir, options.host, port_, options.jetstream_dir, login_);

  transport::StdioOptions o;
  o.name = "nats-server";
  o.command = options.binary;
  o.args = {"-c", conf.string()};
  o.eof_grace = std::chrono::milliseconds(0);  // it ignores stdin: go straight to SIGTERM
  o.term_grace = std::chrono::seconds(5);
  process_ = transport::make_stdio_transport(loop.make_strand(), o);
  auto exited = std::make_shared<std::atomic<bool>>(false);
  auto reason = std::make_shared<std::promise<std::string>>();
  process_->start({[](std::string_view) {},
                   [exited, reason](const transport::Closed& c) {
                     exited->store(true);
                     reason->set_value(c.describe());
                   }});
  auto deadline = std::chrono::steady_clock::now() + options.timeout;
  while (!accepts_connections(connect_host_, port_)) {
    if (exited->load())
      throw std::runtime_error("the embedded nats-server exited at start: " + reason->get_future().get() +
                               " (its configuration: " + conf.string() + ")");
    if (std::chrono::steady_clock::now() > deadline)
      throw std::runtime_error("the embedded nats-server did not listen on " + url() + " within " +
                               std::to_string(options.timeout.count()) + " ms");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  spdlog::info("no NATS URL configured: started an embedded nats-server on {} (pid {}), login required: {}", url(),
               process_->pid(), credentials::credentials_file(state_dir).string());
}

EmbeddedNats::~EmbeddedNats() { stop(); }

std::string EmbeddedNats::url() const {
  const bool v6 = connect_host_.find(':') != std::string::npos;
  return "nats://" + (v6 ? "[" + connect_host_ + "]" : connect_host_) + ":" + std::to_string(port_);
}

void EmbeddedNats::stop() {
  if (!process_) return;
  std::promise<void> done;
  auto f = done.get_future();
  process_->close([&done] { done.set_value(); });
  f.wait();
  process_.reset();
}

}  // namespace mcpd::daemon
