// <prefix>.nodes.<this node>.oauth.{key,grant}: an OAuth grant handed to this node without
// ever being readable on the bus (auth/handover.hpp). `key` answers the node's X25519 public key
// (the key pair is made at the first request and kept beside the catalog, oauth/node.key, mode
// 0600); `grant` opens a grant sealed to it for one server and stores it where the server's
// token provider reads it (oauth/<server>.json, mode 0600), so the next connection uses it.
// This node's own subscription; the blocking pool (files). The NATS permissions let operators,
// not callers, publish here (deploy/nats/).
#include "node/internal/handlers.hpp"
#include "node/internal/node.hpp"

#include "auth/handover.hpp"
#include "auth/token_cache.hpp"
#include "catalog/server_config.hpp"

#include <spdlog/spdlog.h>

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

 private:
  std::mutex mu_;
  std::string dir_;
  std::optional<auth::NodeKey> key_;
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
  auto g = auth::parse_grant(plain.value(), "the sealed grant");
  if (!g.ok()) return error_reply(make_error(Errc::invalid_request, g.error().message));
  if (g.value().access_token.empty() && g.value().refresh_token.empty())
    return error_reply(make_error(Errc::invalid_request, "the sealed grant holds neither an access nor a refresh token"));
  const std::string path = keys.dir() + "/" + server + ".json";
  if (auto st = auth::save_grant(path, g.value()); !st.ok()) return error_reply(st.error());
  spdlog::info("[{}] OAuth: a grant was handed to this node and stored in {}", server, path);
  return ok(Json{{"node", n.opts.node_id}, {"server", server}, {"stored", true},
                 {"refresh_token", !g.value().refresh_token.empty()}});
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
