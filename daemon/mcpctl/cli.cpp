// The shared part of every mcpctl command: see cli.hpp.
#include "cli.hpp"

#include "output.hpp"

#include <iostream>

namespace mcpd::mcpctl {

Client& Invocation::client() {
  if (!client_) client_ = Client::connect(global_.nats);
  return *client_;
}

Reply Invocation::ask(const std::string& subject, const Json& body, std::chrono::milliseconds fallback,
                      bool echo_json) {
  const auto timeout = global_.timeout.value_or(fallback);
  Reply reply = client().request(subject, body.dump(-1, ' ', false, Json::error_handler_t::replace), timeout);
  auto e = reply.body.find("error");
  const bool is_error = e != reply.body.end() && !e->is_null();
  if (global_.json && (echo_json || is_error)) std::cout << pretty_verbatim(reply.raw) << '\n';
  if (reply.body.value("session_reset", false))
    std::cerr << "note: the session was reset (its previous state is gone)\n";
  if (is_error) {
    const std::string message = e->is_string() ? e->get<std::string>() : e->dump();
    auto c = reply.body.find("code");
    const std::string code = c != reply.body.end() && c->is_string() ? c->get<std::string>() : "error";
    std::cout.flush();
    // Multi-line messages (a tool's own text) start on their own line.
    throw failure(code + ":" + (message.find('\n') == std::string::npos ? " " : "\n") + message);
  }
  return reply;
}

std::vector<Reply> Invocation::gather(const std::string& subject, std::string_view body,
                                      std::chrono::milliseconds window, std::size_t max) {
  return client().gather(subject, body, window, max);
}

std::unique_ptr<Events> Invocation::listen(const std::string& subject) { return client().listen(subject); }

}  // namespace mcpd::mcpctl
