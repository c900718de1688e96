#include "mcp/lifecycle.hpp"

#include "mcp/protocol.hpp"
#include "mcp/stateless_era.hpp"

#include <spdlog/spdlog.h>

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

class DualEra final : public Lifecycle {
 public:
  explicit DualEra(DualEraOptions o) : opts_(std::move(o)) {
    if (!opts_.memo) opts_.memo = std::make_shared<EraMemo>();
  }

  void open(jsonrpc::Peer& peer, std::chrono::milliseconds timeout,
            std::function<void(Result<ServerDescription>)> done) override {
    auto memo = opts_.memo;
    // A server known to be of the handshake era is not probed again.
    if (memo->get() == EraMemo::Era::handshake) return handshake(peer, timeout, memo, std::move(done), "");
    // A server known to be stateless gets the whole open timeout; an unknown one only the probe's.
    auto wait = memo->get() == EraMemo::Era::stateless ? timeout : std::min(timeout, opts_.probe_timeout);
    auto weak = peer.weak_from_this();
    peer.request("server/discover", discover_params(kLatestStatelessVersion), wait,
                 [weak, memo, timeout, done = std::move(done)](Result<Json> r) mutable {
                   auto p = weak.lock();
                   if (!p) return;
                   if (r.ok()) {
                     if (auto d = read_discover_result(r.value())) {
                       if (d->ok()) memo->set(EraMemo::Era::stateless);
                       else memo->set(EraMemo::Era::unknown);
                       return done(std::move(*d));
                     }
                   }
                   // Anything but a DiscoverResult: a server of the handshake era (it answered an
                   // unknown method with an error, or ignored it), or one whose stateless
                   // revisions are not ours (UnsupportedProtocolVersion): initialize tells.
                   std::string why = r.ok() ? "answered without supportedVersions" : r.error().message;
                   spdlog::debug("[{}] server/discover: {}; trying initialize", p->name(), why);
                   handshake(*p, timeout, memo, std::move(done), why);
                 });
  }

 private:
  // Static: the callbacks may outlive this object (they hold the memo, never `this`).
  static void handshake(jsonrpc::Peer& peer, std::chrono::milliseconds timeout, std::shared_ptr<EraMemo> memo,
                        std::function<void(Result<ServerDescription>)> done, std::string probe_failure) {
    InitializeHandshake().open(peer, timeout, [memo, done = std::move(done), probe_failure](Result<ServerDescription> r) {
      if (r.ok()) {
        memo->set(EraMemo::Era::handshake);
        return done(std::move(r));
      }
      memo->set(EraMemo::Era::unknown);  // the next open probes again
      Error e = r.error();
      // (said once when both failed for the same reason, e.g. the process exited)
      if (!probe_failure.empty() && e.message.find(probe_failure) == std::string::npos)
        e.message += " (server/discover before it: " + probe_failure + ")";
      done(std::move(e));
    });
  }

  DualEraOptions opts_;
};

}  // namespace

std::unique_ptr<Lifecycle> make_initialize_handshake() { return std::make_unique<InitializeHandshake>(); }

std::unique_ptr<Lifecycle> make_dual_era_lifecycle(DualEraOptions options) {
  return std::make_unique<DualEra>(std::move(options));
}

}  // namespace mcpd::mcp
