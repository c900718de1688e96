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
        if (auto st = conn->respond(m.reply(), fit((this->*body)(), conn->max_payload())); !st.ok())
          spdlog::warn("cannot answer {}: {}", m.subject(), st.error().message);
      });
      if (!sub.ok()) return sub.error();
      subs_.push_back(std::move(sub).value());
    }
  }
  return {};
}

void Discovery::stop() { subs_.clear(); }

std::string Discovery::fit(nlohmann::json reply, std::int64_t max_payload) {
  std::string text = reply.dump(-1, ' ', false, Json::error_handler_t::replace);
  constexpr std::size_t kHeaderRoom = 1024;
  if (max_payload <= 0 || text.size() + kHeaderRoom <= static_cast<std::size_t>(max_payload)) return text;
  // Too many servers for one message: keep those that fit (in name order), and say so; the
  // summary still counts them all.
  auto data = reply.find("data");
  if (data == reply.end() || !data->is_object() || !data->contains("servers") || !(*data)["servers"].is_object())
    return text;
  Json& servers = (*data)["servers"];
  const std::size_t total = servers.size();
  std::size_t over = text.size() + kHeaderRoom - static_cast<std::size_t>(max_payload) + 64;
  Json kept = Json::object();
  std::size_t room = servers.dump().size() > over ? servers.dump().size() - over : 0;
  for (auto& [name, s] : servers.items()) {
    const std::size_t size = name.size() + s.dump().size() + 4;
    if (size > room) break;
    room -= size;
    kept[name] = std::move(s);
  }
  (*data)["servers_shown"] = kept.size();
  (*data)["servers_truncated"] = total - kept.size();
  servers = std::move(kept);
  return reply.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace mcpd::node
