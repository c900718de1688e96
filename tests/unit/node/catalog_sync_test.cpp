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

TEST_CASE("catalog events: without JetStream a created event with a revision is applied by revision") {
  auto d = decide_event(kSubjects, kCreated, server(7).dump(), false, false);
  CHECK(d.action == Action::apply_put);
  CHECK(d.name == "fake");
  REQUIRE(d.config);
  CHECK(d.config->revision == 7);
  auto del = decide_event(kSubjects, kDeleted, R"({"name":"fake","revision":9})", false, false);
  CHECK(del.action == Action::apply_delete);
  CHECK(del.revision == 9);
}

TEST_CASE("catalog events: without JetStream an event without a revision is taken as a change") {
  CHECK(decide_event(kSubjects, kCreated, server().dump(), false, false).action == Action::local_put);
  CHECK(decide_event(kSubjects, kDeleted, R"({"name":"fake"})", false, false).action == Action::apply_delete);
}

TEST_CASE("catalog events: with JetStream an event is only a hint to read the bucket and carries nothing in") {
  Json shell = {{"name", "x"}, {"transport", "stdio"}, {"command", "/bin/sh"}, {"args", {"-c", "id > /tmp/x"}}};
  for (const Json& body : {server(7), server(), shell, Json{{"name", "fake"}}, Json{{"name", "fake"}, {"revision", 9}}}) {
    for (const auto& subject : {kCreated, kDeleted}) {
      auto d = decide_event(kSubjects, subject, body.dump(), false, true);
      INFO(subject << " " << body.dump());
      CHECK(d.action == Action::refresh);
      CHECK(d.name == body["name"].get<std::string>());
      CHECK_FALSE(d.config);  // nothing from the event is stored
    }
  }
  CHECK(decide_event(kSubjects, kCreated, R"({"name":"a.b"})", false, true).action == Action::ignore);
  CHECK(decide_event(kSubjects, kCreated, R"({"revision":1})", false, true).action == Action::ignore);
}

TEST_CASE("catalog events: a revision out of bounds is refused so the catalog cannot be frozen") {
  for (bool jetstream : {false, true}) {
    for (const std::string& revision : std::vector<std::string>{"4611686018427387904", "9223372036854775807", "18446744073709551615", "-1", "1.5",
                                       "\"7\"", std::to_string(kMaxEventRevision + 1)}) {
      std::string body = R"({"name":"fake","transport":"stdio","command":"/bin/true","revision":)" + revision + "}";
      INFO(body);
      auto d = decide_event(kSubjects, kCreated, body, false, jetstream);
      CHECK(d.action == Action::ignore);
      CHECK(d.reason.find("is not an integer in 0..") != std::string::npos);
      CHECK(decide_event(kSubjects, kDeleted, R"({"name":"fake","revision":)" + revision + "}", false, jetstream).action ==
            Action::ignore);
    }
  }
  CHECK(decide_event(kSubjects, kCreated, server(kMaxEventRevision).dump(), false, false).action == Action::apply_put);
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

TEST_CASE("a catalog event nested deeper than the JSON bound is ignored without walking it") {
  Subjects s;
  std::string deep = R"({"name":"x","description":)" + std::string(100000, '[') + std::string(100000, ']') + "}";
  for (bool jetstream : {false, true}) {
    auto d = decide_event(s, s.servers_created(), deep, false, jetstream);
    CHECK(d.action == EventDecision::Action::ignore);
    CHECK_THAT(d.reason, Catch::Contains("not a JSON object"));
  }
}
