// Discovery::fit: a $SRV reply always fits in one NATS message; a node with too many servers
// lists those that fit and says how many it left out.
#include "node/discovery.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace mcpd::node;
using Json = nlohmann::json;

TEST_CASE("discovery replies are cut to max_payload by listing fewer servers and saying so") {
  Json servers = Json::object();
  for (int i = 0; i < 1000; ++i)
    servers["server-" + std::to_string(1000 + i)] = {{"sessions_ready", 1}, {"last_error", std::string(60, 'e')}};
  const Json reply = {{"type", "io.nats.micro.v1.stats_response"}, {"data", {{"in_flight", 0}, {"servers", servers}}}};
  const std::string whole = reply.dump();
  REQUIRE(whole.size() > 100'000);

  CHECK(Discovery::fit(reply, 0) == whole);          // unknown limit: as it is
  CHECK(Discovery::fit(reply, 1 << 20) == whole);    // fits: as it is

  const std::string cut = Discovery::fit(reply, 16 * 1024);
  CHECK(cut.size() + 1024 <= 16 * 1024);
  Json j = Json::parse(cut);
  const auto shown = j["data"]["servers_shown"].get<std::size_t>();
  CHECK(shown > 10);
  CHECK(shown == j["data"]["servers"].size());
  CHECK(shown + j["data"]["servers_truncated"].get<std::size_t>() == 1000);
  CHECK(j["data"]["servers"].begin().key() == "server-1000");  // in name order, from the first
  CHECK(j["data"]["in_flight"] == 0);
}
