// <prefix>.nodes.<this node>.oauth.{key,grant}: an OAuth grant handed to this node without
// ever being readable on the bus (auth/handover.hpp). `key` answers the node's X25519 public key
// (the key pair is made at the first request and kept beside the catalog, oauth/node.key, mode
// 0600); `grant` opens a grant sealed to it for one server and stores it where the server's
// token provider reads it (oauth/<server>.json, mode 0600), so the next connection uses it. A
// hand-over is taken once: one sealed long ago, or no later than the last taken, is refused
// (auth/sealed_grant.hpp); the last sealing time taken is kept beside the grant
// (oauth/<server>.sealed-at), so a restarted node refuses the same hand-over sent again.
// This node's own subscription; the blocking pool (files). The NATS permissions let operators,
// not callers, publish here (deploy/nats/).
#include "node/internal/handlers.hpp"
#include "node/internal/node.hpp"

#include "auth/handover.hpp"
#include "auth/sealed_grant.hpp"
#include "auth/token_cache.hpp"
#include "catalog/server_config.hpp"

#include <spdlog/spdlog.h>

#include <charconv>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>

namespace mcpd::node {

using Json = nlohmann::json;

namespace {

Reply ok(const Json& body) { return Reply{body.dump(), {}, std::nullopt}; }

// The node key, loaded (or made) once, at the first request that needs it.
class KeyHolder {
 public:
  explicit KeyHolder(std::string dir) : dir_(std::move(dir)) {}
  Result<auth::NodeKey> get() {
    std::lock_guard lock(mu_);
    if (key_) return *key_;
    if (dir_.empty()) return make_error(Errc::unavailable, "this node keeps no OAuth grants (it has no state directory)");
    auto k = auth::NodeKey::load_or_create(dir_ + "/node.key");
    if (!k.ok()) return k.error();
    key_ = k.value();
    return *key_;
  }
  const std::string& dir() const { return dir_; }
  // Takes a grant's sealing time for `server` if it is later than the last taken; else says why
  // not (the same or an older hand-over sent again).
  Status take(const std::string& server, std::int64_t sealed_at_ms) {
    std::lock_guard lock(mu_);
    auto [it, first] = last_sealed_at_.try_emplace(server, 0);
    auto& last = it->second;
    if (first) last = read_sealed_at(server);
    if (sealed_at_ms <= last)
      return make_error(Errc::invalid_request,
                        "this grant for '" + server + "' was sealed no later than the last one this node took (" +
                            std::to_string(sealed_at_ms) + " <= " + std::to_string(last) +
                            " ms): a hand-over is taken once; seal a fresh one");
    if (auto st = write_sealed_at(server, sealed_at_ms); !st.ok()) return st;
    last = sealed_at_ms;
    return {};
  }

 private:
  std::string sealed_at_path(const std::string& server) const { return dir_ + "/" + server + ".sealed-at"; }
  // 0 when no hand-over for `server` was ever taken here (or the file is not a number).
  std::int64_t read_sealed_at(const std::string& server) const {
    std::ifstream in(sealed_at_path(server));
    std::string text;
    std::getline(in, text);
    std::int64_t v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    return ec == std::errc() && end == text.data() + text.size() ? v : 0;
  }
  Status write_sealed_at(const std::string& server, std::int64_t sealed_at_ms) const {
    return auth::write_private_file(sealed_at_path(server), std::to_string(sealed_at_ms) + "\n", "the hand-over record");
  }

  std::mutex mu_;  // held by take() across reading and writing the .sealed-at file
  std::string dir_;
  std::optional<auth::NodeKey> key_;
  std::map<std::string, std::int64_t> last_sealed_at_;  // by server: the file's, then each taken
};

Reply key(Node& n, KeyHolder& keys) {
  auto k = keys.get();
  if (!k.ok()) return error_reply(k.error());
  return ok(Json{{"node", n.opts.node_id}, {"public_key", k.value().public_key()}, {"scheme", auth::kSealScheme}});
}

Reply grant(Node& n, KeyHolder& keys, const Request& r) {
  const std::string server = r.body["server"].get<std::string>();
  if (auto st = catalog::check_server_name(server); !st.ok()) return error_reply(st.error());
  auto k = keys.get();
  if (!k.ok()) return error_reply(k.error());
  auth::Sealed sealed{r.body["epk"].get<std::string>(), r.body["nonce"].get<std::string>(),
                      r.body["ciphertext"].get<std::string>()};
  auto plain = k.value().open(sealed, auth::grant_context(n.opts.node_id, server));
  if (!plain.ok()) return error_reply(plain.error());
  const auto now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  auto handed = auth::read_sealed_grant(plain.value(), now_ms);
  if (!handed.ok()) return error_reply(handed.error());
  const auth::Grant& g = handed.value().grant;
  if (g.access_token.empty() && g.refresh_token.empty())
    return error_reply(make_error(Errc::invalid_request, "the sealed grant holds neither an access nor a refresh token"));
  if (auto st = keys.take(server, handed.value().sealed_at_ms); !st.ok()) return error_reply(st.error());
  const std::string path = keys.dir() + "/" + server + ".json";
  if (auto st = auth::save_grant(path, g); !st.ok()) return error_reply(st.error());
  spdlog::info("[{}] OAuth: a grant was handed to this node and stored in {}", server, path);
  return ok(Json{{"node", n.opts.node_id}, {"server", server}, {"stored", true},
                 {"refresh_token", !g.refresh_token.empty()}});
}

}  // namespace

void add_oauth_handover(const std::shared_ptr<Node>& node) {
  auto keys = std::make_shared<KeyHolder>(node->opts.pool_defaults.oauth_dir);
  std::weak_ptr<Node> weak = node;
  const std::string base = "nodes." + node->opts.node_id + ".oauth.";
  node->table.add(EndpointSpec{
      .name = "oauth",
      .pattern = base + "key",
      .stats_subject = {},
      .payload = std::nullopt,
      .runs = RunsOn::blocking,
      .via = Via::node,
      .error_extra = Json::object(),
      .handler =
          [weak, keys](Request r) {
            if (auto n = weak.lock()) n->table.answer(r.reply_to, key(*n, *keys));
          },
  });
  node->table.add(EndpointSpec{
      .name = "oauth",
      .pattern = base + "grant",
      .stats_subject = {},
      .payload = schema::Payload::oauth_grant_request,
      .runs = RunsOn::blocking,
      .via = Via::node,
      .error_extra = Json::object(),
      .handler =
          [weak, keys](Request r) {
            if (auto n = weak.lock()) n->table.answer(r.reply_to, grant(*n, *keys, r));
          },
  });
}

}  // namespace mcpd::node
