// The shared part of every mcpctl command: see cli.hpp.
#include "cli.hpp"

#include "output.hpp"

#include <iostream>

namespace mcpd::mcpctl {

Client& Invocation::client() {
  if (!client_) client_ = Client::connect(ConnectOptions{global_.nats_url, global_.creds_file});
  return *client_;
}

Reply Invocation::ask(const std::string& subject, const Json& body, std::chrono::milliseconds fallback) {
  const auto timeout = global_.timeout.value_or(fallback);
  Reply reply = client().request(subject, body.dump(-1, ' ', false, Json::error_handler_t::replace), timeout);
  if (global_.json) std::cout << pretty_verbatim(reply.raw) << '\n';
  if (reply.body.value("session_reset", false))
    std::cerr << "note: the session was reset (its previous state is gone)\n";
  if (auto e = reply.body.find("error"); e != reply.body.end() && !e->is_null()) {
    const std::string message = e->is_string() ? e->get<std::string>() : e->dump();
    auto c = reply.body.find("code");
    const std::string code = c != reply.body.end() && c->is_string() ? c->get<std::string>() : "error";
    std::cout.flush();
    // Multi-line messages (a tool's own text) start on their own line.
    throw failure(code + ":" + (message.find('\n') == std::string::npos ? " " : "\n") + message);
  }
  return reply;
}

}  // namespace mcpd::mcpctl
