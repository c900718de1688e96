// OpsHttp: the node's HTTP listener for operators ([metrics] listen), served by civetweb
// (Debian's libcivetweb; no TLS, so no OpenSSL is loaded): /metrics (Prometheus text format),
// /healthz (200 while the process serves HTTP at all) and /readyz (200 while the node serves
// NATS requests, else 503 with the reason). GET and HEAD only. Two worker threads of its own; a
// scrape reads counters and never blocks the request path.
#pragma once

#include "config.hpp"
#include "node/manager.hpp"

struct mg_context;

namespace mcpd::daemon {

class OpsHttp {
 public:
  // Listens on `address` at once (so a port in use is a startup error naming the address) and
  // serves from civetweb's threads. Throws std::runtime_error if it cannot listen.
  OpsHttp(const ListenAddress& address, const node::Manager& manager);
  ~OpsHttp();  // stops serving (waits for requests being answered)
  OpsHttp(const OpsHttp&) = delete;
  OpsHttp& operator=(const OpsHttp&) = delete;

  // The port it listens on (the one chosen when the address said 0).
  int port() const { return port_; }

 private:
  const node::Manager& manager_;
  mg_context* ctx_ = nullptr;
  int port_ = 0;
};

}  // namespace mcpd::daemon
