// What a catalog event means to a node (decide_event), without NATS: revisions make events
// news rather than commands, events without one are taken as changes (through the catalog of
// record when JetStream is in use), and anything malformed is ignored with a reason.
#include "node/catalog_sync.hpp"

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

using namespace mcpd;
using namespace mcpd::node;
using Json = nlohmann::json;
using Action = EventDecision::Action;

namespace {
const Subjects kSubjects{};
const std::string kCreated = kSubjects.servers_created();
const std::string kDeleted = kSubjects.servers_deleted();

Json server(std::optional<std::int64_t> revision = std::nullopt) {
  Json j = {{"name", "fake"}, {"transport", "stdio"}, {"command", "/bin/true"}};
  if (revision) j["revision"] = *revision;
  return j;
}
}  // namespace

TEST_CASE("catalog events: a created event with a revision is applied by revision with or without JetStream") {
  for (bool jetstream : {false, true}) {
    auto d = decide_event(kSubjects, kCreated, server(7).dump(), false, jetstream);
    CHECK(d.action == Action::apply_put);
    CHECK(d.name == "fake");
    REQUIRE(d.config);
    CHECK(d.config->revision == 7);
  }
}

TEST_CASE("catalog events: an event without a revision is a change made through the bucket when JetStream is in use") {
  CHECK(decide_event(kSubjects, kCreated, server().dump(), false, false).action == Action::local_put);
  CHECK(decide_event(kSubjects, kCreated, server().dump(), false, true).action == Action::bucket_put);
  CHECK(decide_event(kSubjects, kDeleted, R"({"name":"fake"})", false, false).action == Action::apply_delete);
  CHECK(decide_event(kSubjects, kDeleted, R"({"name":"fake"})", false, true).action == Action::bucket_erase);
  auto d = decide_event(kSubjects, kDeleted, R"({"name":"fake","revision":9})", false, true);
  CHECK(d.action == Action::apply_delete);
  CHECK(d.revision == 9);
}

TEST_CASE("catalog events: requests and malformed bodies and invalid servers are ignored with a reason") {
  auto ignored = [](const EventDecision& d) { return d.action == Action::ignore && !d.reason.empty(); };
  CHECK(ignored(decide_event(kSubjects, kCreated, server(1).dump(), /*has_reply=*/true, false)));
  CHECK(ignored(decide_event(kSubjects, kCreated, "not json", false, false)));
  CHECK(ignored(decide_event(kSubjects, kCreated, "[1,2]", false, false)));
  CHECK(ignored(decide_event(kSubjects, kDeleted, R"({"revision":3})", false, false)));
  CHECK(ignored(decide_event(kSubjects, "mcp.servers.renamed", server(1).dump(), false, false)));
  Json bad = server(1);
  bad["name"] = "a.b";
  auto d = decide_event(kSubjects, kCreated, bad.dump(), false, false);
  CHECK(d.action == Action::ignore);
  CHECK(d.reason.find("not a valid server") != std::string::npos);
}
