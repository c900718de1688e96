// cluster_view(): what the built-in "mcpd" server reads of its node: the catalog, the node's
// pools and limits, and the other nodes' $SRV.STATS (gathered over NATS, as mcpctl nodes does).
#include "node/builtin/mcpd_server.hpp"
#include "node/internal/node.hpp"

#include <mutex>
#include <thread>

namespace mcpd::node {

using Json = nlohmann::json;

namespace {

// Every $SRV.STATS.mcpd answer of a node of this cluster (an endpoint under `prefix`) that
// arrives within `window`.
std::vector<Json> gather_stats(bus::Connection& bus, const std::string& prefix, std::chrono::milliseconds window) {
  struct Inbox {
    std::mutex mu;
    std::vector<Json> replies;
  };
  auto inbox = std::make_shared<Inbox>();
  const std::string reply = bus.new_inbox();
  auto sub = bus.subscribe(reply, [inbox, prefix](bus::Message m) {
    Json body = Json::parse(m.data(), nullptr, false);
    if (!body.is_object() || body.value("type", "") != "io.nats.micro.v1.stats_response") return;
    bool ours = false;
    for (const auto& e : body.value("endpoints", Json::array()))
      ours = ours || (e.is_object() && e.value("subject", "").starts_with(prefix + "."));
    if (!ours) return;  // a node of another cluster (another prefix) on the same NATS
    std::lock_guard lock(inbox->mu);
    inbox->replies.push_back(std::move(body));
  });
  if (!sub.ok()) return {};
  if (!bus.publish("$SRV.STATS.mcpd", "", {}, reply).ok()) return {};
  std::this_thread::sleep_for(window);
  sub.value()->unsubscribe();
  std::lock_guard lock(inbox->mu);
  return inbox->replies;
}

}  // namespace

ClusterView cluster_view(std::weak_ptr<Node> weak) {
  ClusterView v;
  v.catalog = [weak]() -> Result<std::vector<catalog::ServerConfig>> {
    auto n = weak.lock();
    if (!n) return std::vector<catalog::ServerConfig>{};
    return n->store.list();
  };
  v.server = [weak](const std::string& name) -> Result<std::optional<catalog::ServerConfig>> {
    auto n = weak.lock();
    if (!n) return std::optional<catalog::ServerConfig>{};
    return n->store.get(name);
  };
  v.health = [weak] {
    auto n = weak.lock();
    return n ? n->registry.status() : Json::object();
  };
  v.refusal = [weak](const std::string& name) -> std::optional<Error> {
    auto n = weak.lock();
    return n ? n->registry.refusal(name) : std::nullopt;
  };
  v.node = [weak] {
    auto n = weak.lock();
    if (!n) return Json::object();
    Json data = n->stats_data();
    data.erase("servers");
    return data;
  };
  v.nodes = [weak](std::chrono::milliseconds window) {
    auto n = weak.lock();
    if (!n) return std::vector<Json>{};
    auto bus = n->bus;
    const std::string prefix = n->opts.subjects.prefix;
    n.reset();  // not held while waiting
    return gather_stats(*bus, prefix, window);
  };
  return v;
}

}  // namespace mcpd::node
