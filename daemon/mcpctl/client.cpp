// NATS request/reply with mcpd for mcpctl: see client.hpp.
#include "client.hpp"

#include "args.hpp"

namespace mcpd::mcpctl {

std::unique_ptr<Client> Client::connect(const ConnectOptions& options) {
  bus::Options o;
  o.servers = {options.url};
  o.name = "mcpctl";
  o.creds_file = options.creds_file;
  // A command-line tool answers at once: no connecting in the background, no reconnecting.
  o.retry_on_failed_connect = false;
  o.max_reconnect = 0;
  o.connect_timeout = options.connect_timeout;
  o.delivery_threads = 1;
  auto conn = bus::Connection::connect(std::move(o));
  if (!conn.ok()) {
    // The bus says "cannot connect to <urls>: <reason>"; keep the reason only (URLs hold no ": ").
    std::string reason = conn.error().message;
    if (auto colon = reason.find(": "); reason.starts_with("cannot connect to ") && colon != std::string::npos)
      reason.erase(0, colon + 2);
    throw failure("cannot connect to NATS at " + options.url + ": " + reason +
                  " (is mcpd running? set --nats or MCPD_NATS_URL)");
  }
  return std::unique_ptr<Client>(new Client(std::move(conn).value(), options.url));
}

Client::~Client() {
  if (conn_) conn_->close();
}

Reply Client::request(const std::string& subject, const std::string& body, std::chrono::milliseconds timeout) {
  auto reply = conn_->request(subject, body, timeout);
  if (!reply.ok()) {
    const Error& e = reply.error();
    if (e.code == Errc::timeout)
      throw failure("timed out after " + std::to_string(timeout.count()) + " ms waiting for " + subject +
                    " (mcpd may still be working on it; a longer --timeout waits longer)");
    if (e.code == Errc::unavailable && e.message.starts_with("no responders"))
      throw failure("no mcpd is serving " + subject + " (is mcpd running and connected to this NATS, " + url_ +
                    ", with the same subject prefix? see --prefix)");
    throw failure(e.message);
  }
  Reply out;
  out.raw = std::string(reply.value().data());
  out.body = Json::parse(out.raw, nullptr, /*allow_exceptions=*/false);
  if (out.body.is_discarded() || !out.body.is_object()) {
    std::string shown = out.raw.size() > 200 ? out.raw.substr(0, 200) + "..." : out.raw;
    throw failure("the reply on " + subject + " is not a JSON object (is something other than mcpd answering?): " +
                  shown);
  }
  return out;
}

}  // namespace mcpd::mcpctl
