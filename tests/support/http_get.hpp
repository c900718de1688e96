// A minimal HTTP/1.0 GET over loopback for tests of the node's operator endpoints (/metrics,
// /healthz, /readyz): connect, send, read until the server closes. Status, headers and body.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <string>

namespace mcpd::test {

struct HttpResponse {
  int status = 0;
  std::string headers;  // the raw header lines
  std::string body;
  std::string header(const std::string& name) const {
    auto at = headers.find("\r\n" + name + ": ");
    if (at == std::string::npos) return {};
    at += name.size() + 4;
    return headers.substr(at, headers.find("\r\n", at) - at);
  }
};

// nullopt if nothing answers on 127.0.0.1:`port` within `timeout`.
inline std::optional<HttpResponse> http_get(int port, const std::string& path,
                                            std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::nullopt;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string raw;
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  if (ok) {
    const std::string request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    ok = ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size());
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (ok) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd p{fd, POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
      ok = false;
      break;
    }
    char buf[8192];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0) ok = false;
    if (n <= 0) break;
    raw.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  const auto end = raw.find("\r\n\r\n");
  if (!ok || raw.rfind("HTTP/1.", 0) != 0 || end == std::string::npos) return std::nullopt;
  HttpResponse r;
  r.status = std::stoi(raw.substr(9, 3));
  r.headers = raw.substr(0, end + 2);
  r.body = raw.substr(end + 4);
  return r;
}

}  // namespace mcpd::test
