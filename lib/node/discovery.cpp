#include "node/discovery.hpp"

#include "catalog/server_config.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

namespace mcpd::node {

using Json = nlohmann::json;

Discovery::Discovery(DiscoveryInfo info)
    : info_(std::move(info)), started_(catalog::format_timestamp(std::chrono::system_clock::now())) {}

Discovery::~Discovery() { stop(); }

namespace {
Json base(const DiscoveryInfo& i, const char* type) {
  return {{"type", type}, {"name", i.service}, {"id", i.id}, {"version", i.version}, {"metadata", Json::object()}};
}
}  // namespace

Json Discovery::ping() const { return base(info_, "io.nats.micro.v1.ping_response"); }

Json Discovery::info() const {
  Json j = base(info_, "io.nats.micro.v1.info_response");
  j["description"] = info_.description;
  Json endpoints = Json::array();
  for (const auto& e : info_.endpoints())
    endpoints.push_back({{"name", e.name}, {"subject", e.subject}, {"queue_group", e.queue_group}, {"metadata", Json::object()}});
  j["endpoints"] = std::move(endpoints);
  return j;
}

Json Discovery::stats() const {
  Json j = base(info_, "io.nats.micro.v1.stats_response");
  j["started"] = started_;
  Json endpoints = Json::array();
  for (const auto& e : info_.endpoints()) {
    auto avg = e.requests ? e.processing_time.count() / static_cast<std::int64_t>(e.requests) : 0;
    endpoints.push_back({{"name", e.name},
                         {"subject", e.subject},
                         {"queue_group", e.queue_group},
                         {"num_requests", e.requests},
                         {"num_errors", e.errors},
                         {"last_error", e.last_error},
                         {"processing_time", e.processing_time.count()},
                         {"average_processing_time", avg}});
  }
  j["endpoints"] = std::move(endpoints);
  if (info_.data) j["data"] = info_.data();  // mcpd's own: servers, sessions, in-flight
  return j;
}

Status Discovery::start(bus::Connection& bus) {
  struct Verb {
    const char* name;
    Json (Discovery::*body)() const;
  };
  const Verb verbs[] = {{"PING", &Discovery::ping}, {"INFO", &Discovery::info}, {"STATS", &Discovery::stats}};
  auto* conn = &bus;
  for (const auto& v : verbs) {
    const std::string base_subject = std::string("$SRV.") + v.name;
    for (const std::string& subject :
         {base_subject, base_subject + "." + info_.service, base_subject + "." + info_.service + "." + info_.id}) {
      auto body = v.body;
      auto sub = bus.subscribe(subject, [this, conn, body](bus::Message m) {
        if (m.reply().empty()) return;
        if (auto st = conn->respond(m.reply(), (this->*body)().dump()); !st.ok())
          spdlog::warn("cannot answer {}: {}", m.subject(), st.error().message);
      });
      if (!sub.ok()) return sub.error();
      subs_.push_back(std::move(sub).value());
    }
  }
  return {};
}

void Discovery::stop() { subs_.clear(); }

}  // namespace mcpd::node
