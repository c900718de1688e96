#include "ops_http.hpp"

#include "metrics/exposition.hpp"

#include <civetweb.h>
#include <spdlog/spdlog.h>

#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>

namespace mcpd::daemon {

namespace {

void respond(mg_connection* conn, int status, const char* reason, const char* type, const std::string& body) {
  const bool head = std::strcmp(mg_get_request_info(conn)->request_method, "HEAD") == 0;
  mg_printf(conn,
            "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nCache-Control: no-store\r\n"
            "Connection: close\r\n\r\n",
            status, reason, type, body.size());
  if (!head) mg_write(conn, body.data(), body.size());
}

// Every path comes here (the handler is registered for "/", a prefix of all of them).
int handle(mg_connection* conn, void* data) {
  const auto& manager = *static_cast<const node::Manager*>(data);
  const mg_request_info* req = mg_get_request_info(conn);
  const std::string method = req->request_method ? req->request_method : "";
  const std::string path = req->local_uri ? req->local_uri : "";
  if (method != "GET" && method != "HEAD") {
    respond(conn, 405, "Method Not Allowed", "text/plain", "only GET and HEAD\n");
    return 405;
  }
  if (path == "/metrics") {
    respond(conn, 200, "OK", metrics::kContentType, manager.metrics());
    return 200;
  }
  if (path == "/healthz") {
    respond(conn, 200, "OK", "text/plain", "ok\n");
    return 200;
  }
  if (path == "/readyz") {
    const auto r = manager.readiness();
    if (r.ready) respond(conn, 200, "OK", "text/plain", "ready\n");
    else respond(conn, 503, "Service Unavailable", "text/plain", "not ready: " + r.reason + "\n");
    return r.ready ? 200 : 503;
  }
  respond(conn, 404, "Not Found", "text/plain", "no such path " + path + ": try /metrics, /healthz or /readyz\n");
  return 404;
}

// civetweb's own messages (e.g. why it cannot listen), collected for the startup error.
struct StartLog {
  std::mutex mu;
  std::string text;
};

int log_message(const mg_connection* conn, const char* message) {
  if (auto* log = static_cast<StartLog*>(mg_get_user_data(mg_get_context(conn)))) {
    std::lock_guard lock(log->mu);
    log->text += (log->text.empty() ? "" : "; ") + std::string(message);
  }
  spdlog::debug("metrics listener: {}", message);
  return 1;
}

}  // namespace

OpsHttp::OpsHttp(const ListenAddress& address, const node::Manager& manager) : manager_(manager) {
  mg_init_library(0);
  const bool v6 = address.host.find(':') != std::string::npos;
  const std::string host = v6 ? "[" + address.host + "]" : address.host;
  const std::string ports = host + ":" + std::to_string(address.port);
  const char* options[] = {"listening_ports", ports.c_str(), "num_threads", "2", "request_timeout_ms", "5000",
                           "enable_keep_alive", "no", nullptr};
  mg_callbacks callbacks{};
  callbacks.log_message = log_message;
  StartLog start_log;
  ctx_ = mg_start(&callbacks, &start_log, options);
  if (!ctx_) {
    mg_exit_library();
    throw std::runtime_error("[metrics] listen: cannot listen on " + ports + " (" +
                             (start_log.text.empty() ? std::string("address in use, or not an address of this machine")
                                                     : start_log.text) +
                             ")");
  }
  mg_server_port bound[4]{};
  if (int n = mg_get_server_ports(ctx_, 4, bound); n > 0) port_ = bound[0].port;
  mg_set_request_handler(ctx_, "/", handle, const_cast<node::Manager*>(&manager_));
  spdlog::info("metrics and health on http://{}:{} (/metrics, /healthz, /readyz)", host, port_);
}

OpsHttp::~OpsHttp() {
  mg_stop(ctx_);
  mg_exit_library();
}

}  // namespace mcpd::daemon
