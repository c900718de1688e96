#include "mcp/lifecycle.hpp"

#include "mcp/protocol.hpp"

namespace mcpd::mcp {
namespace {

class InitializeHandshake final : public Lifecycle {
 public:
  void open(jsonrpc::Peer& peer, std::chrono::milliseconds timeout,
            std::function<void(Result<ServerDescription>)> done) override {
    Json params = {
        {"protocolVersion", std::string(kLatestProtocolVersion)},
        // Elicitation only: a task's request for input reaches its owner through
        // mcp.tasks.input (client_session.hpp); an elicitation outside a task has nobody to ask
        // and is declined. A headless daemon has no sampling or roots to offer (-32601).
        {"capabilities", {{"elicitation", Json::object()}}},
        {"clientInfo", {{"name", std::string(kClientName)}, {"version", std::string(kClientVersion)}}},
    };
    auto weak = peer.weak_from_this();
    peer.request("initialize", std::move(params), timeout, [weak, done = std::move(done)](Result<Json> r) {
      if (!r.ok()) {
        Error e = r.error();
        e.message = "initialize failed: " + e.message;
        if (e.code == Errc::internal && e.rpc_code != 0) e.code = Errc::unavailable;
        done(std::move(e));
        return;
      }
      const Json& res = r.value();
      ServerDescription d;
      if (!res.is_object() || !res.contains("protocolVersion") || !res["protocolVersion"].is_string()) {
        done(make_error(Errc::unavailable, "initialize answered without a protocolVersion"));
        return;
      }
      d.protocol_version = res["protocolVersion"].get<std::string>();
      if (!is_supported_protocol_version(d.protocol_version)) {
        done(make_error(Errc::unavailable, "server speaks MCP protocol version " + d.protocol_version +
                                               ", which mcpd does not support (supported: " +
                                               supported_protocol_versions() + ")"));
        return;
      }
      if (auto it = res.find("serverInfo"); it != res.end() && it->is_object()) d.server_info = *it;
      if (auto it = res.find("capabilities"); it != res.end() && it->is_object()) d.capabilities = *it;
      if (auto it = res.find("instructions"); it != res.end() && it->is_string()) d.instructions = *it;
      if (auto p = weak.lock()) p->notify("notifications/initialized", nullptr);
      done(std::move(d));
    });
  }
};

}  // namespace

std::unique_ptr<Lifecycle> make_initialize_handshake() { return std::make_unique<InitializeHandshake>(); }

}  // namespace mcpd::mcp
