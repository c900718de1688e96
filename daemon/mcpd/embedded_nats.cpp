#include "embedded_nats.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <stdexcept>
#include <thread>

namespace mcpd::daemon {
namespace {

bool accepts_connections(const std::string& host, int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, host.c_str(), &addr.sin_addr);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

EmbeddedNats::EmbeddedNats(io::Loop& loop, const std::string& binary, const std::string& host, int port,
                           const std::string& jetstream_dir, std::chrono::milliseconds timeout)
    : host_(host), port_(port) {
  if (accepts_connections(host, port))
    throw std::runtime_error("cannot start the embedded nats-server: " + host + ":" + std::to_string(port) +
                             " is already in use (point [nats] url at that server, or set [nats.embedded] port)");
  transport::StdioOptions o;
  o.name = "nats-server";
  o.command = binary;
  o.args = {"-a", host, "-p", std::to_string(port)};
  if (!jetstream_dir.empty()) o.args.insert(o.args.end(), {"-js", "-sd", jetstream_dir});
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
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!accepts_connections(host, port)) {
    if (exited->load())
      throw std::runtime_error("the embedded nats-server exited at start: " + reason->get_future().get());
    if (std::chrono::steady_clock::now() > deadline)
      throw std::runtime_error("the embedded nats-server did not listen on " + url() + " within " +
                               std::to_string(timeout.count()) + " ms");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  spdlog::info("no NATS URL configured: started an embedded nats-server on {} (pid {})", url(), process_->pid());
}

EmbeddedNats::~EmbeddedNats() { stop(); }

std::string EmbeddedNats::url() const { return "nats://" + host_ + ":" + std::to_string(port_); }

void EmbeddedNats::stop() {
  if (!process_) return;
  std::promise<void> done;
  auto f = done.get_future();
  process_->close([&done] { done.set_value(); });
  f.wait();
  process_.reset();
}

}  // namespace mcpd::daemon
