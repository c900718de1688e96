// The NATS service-discovery protocol ("micro" v1), so generic NATS tooling (`nats micro ls`)
// and `mcpctl nodes` can find every mcpd node: $SRV.PING, $SRV.INFO and $SRV.STATS, each also
// with the .mcpd and .mcpd.<node-id> suffixes, answered by every node (no queue group) with
// io.nats.micro.v1.{ping,info,stats}_response JSON. nats.c 3.4.1 has no micro API, so these
// few subjects are served here by hand.
#pragma once

#include "bus/connection.hpp"

#include <nlohmann/json_fwd.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace mcpd::node {

struct EndpointStats {
  std::string name;          // "execute", "list-tools", "admin"
  std::string subject;       // "mcp.*.execute"
  std::string queue_group;
  std::uint64_t requests = 0;
  std::uint64_t errors = 0;
  std::string last_error;
  std::chrono::nanoseconds processing_time{0};
};

struct DiscoveryInfo {
  std::string service = "mcpd";
  std::string id;            // the node id
  std::string version;
  std::string description;
  std::function<std::vector<EndpointStats>()> endpoints;  // current counters
  std::function<nlohmann::json()> data;                   // extra stats: servers, sessions, in-flight
};

class Discovery {
 public:
  explicit Discovery(DiscoveryInfo info);
  ~Discovery();
  // Subscribes the nine discovery subjects on `bus`.
  Status start(bus::Connection& bus);
  void stop();

  // The response bodies (exposed for tests).
  nlohmann::json ping() const;
  nlohmann::json info() const;
  nlohmann::json stats() const;

  // `reply` as sent: when it is larger than NATS accepts (max_payload, less room for headers),
  // data.servers keeps only the servers that fit, and data says how many it shows
  // (servers_shown) and leaves out (servers_truncated), so the node always answers.
  static std::string fit(nlohmann::json reply, std::int64_t max_payload);

 private:
  DiscoveryInfo info_;
  std::string started_;  // RFC 3339
  std::vector<std::unique_ptr<bus::Subscription>> subs_;
};

}  // namespace mcpd::node
