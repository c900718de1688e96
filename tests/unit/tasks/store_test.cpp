// Task records and the SQLite task store: ids, the two JSON forms, compare-and-set writes.
// (The JetStream store is exercised end to end by the cluster's task tests.)
#include "support/test_support.hpp"
#include "tasks/store.hpp"

#include <catch2/catch.hpp>

#include <set>

using namespace mcpd;
using namespace mcpd::tasks;
using Json = nlohmann::json;

namespace {
Task sample() {
  Task t;
  t.id = new_task_id();
  t.owner = "alice";
  t.server = "everything";
  t.tool = "echo";
  t.created_at_ms = t.updated_at_ms = 1'700'000'000'123;
  t.ttl_ms = 60'000;
  t.node = "node-1";
  t.lease_until_ms = t.created_at_ms + 15'000;
  return t;
}
}  // namespace

TEST_CASE("task ids are 32 hex digits and never repeat") {
  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i) {
    auto id = new_task_id();
    CHECK(valid_task_id(id));
    ids.insert(id);
  }
  CHECK(ids.size() == 1000);
  CHECK_FALSE(valid_task_id("ABCDEF0123456789abcdef0123456789"));
  CHECK_FALSE(valid_task_id("abc"));
  CHECK_FALSE(valid_task_id(std::string(32, 'g')));
}

TEST_CASE("a task survives its stored form and shows callers only the public fields") {
  Task t = sample();
  t.status = TaskStatus::input_required;
  t.input_request = {{"method", "elicitation/create"}, {"params", {{"message", "which?"}}}};
  t.reply = StoredReply{R"({"error":"x","code":"tool_error"})", make_error(Errc::tool_error, "x")};
  auto back = from_stored(to_stored(t).dump());
  REQUIRE(back.ok());
  CHECK(to_stored(back.value()) == to_stored(t));
  CHECK(back->reply->error->code == Errc::tool_error);
  Json pub = to_public(t);
  CHECK(pub["task_id"] == t.id);
  CHECK(pub["status"] == "input_required");
  CHECK(pub["created_at"] == "2023-11-14T22:13:20.123Z");
  CHECK(pub["input_request"]["method"] == "elicitation/create");
  CHECK_FALSE(pub.contains("owner"));
  CHECK_FALSE(pub.contains("node"));
  CHECK_FALSE(from_stored("not json").ok());
}

TEST_CASE("expiry and a lost lease are read from the clock") {
  Task t = sample();
  CHECK_FALSE(t.expired(t.created_at_ms + 59'999));
  CHECK(t.expired(t.created_at_ms + 60'000));
  CHECK_FALSE(t.lease_lost(t.lease_until_ms));
  CHECK(t.lease_lost(t.lease_until_ms + 1));
  t.status = TaskStatus::completed;
  CHECK_FALSE(t.lease_lost(t.lease_until_ms + 1));  // a final task has no lease to lose
}

TEST_CASE("the SQLite store writes by compare-and-set and keeps tasks across a reopen") {
  test::TempDir dir;
  const std::string path = (dir.path() / "catalog.db").string();
  Task t = sample();
  {
    auto store = open_sqlite_store(path, 1 << 20);
    REQUIRE(store.ok());
    auto& s = *store.value();
    CHECK(s.kind() == "sqlite");
    auto rev = s.create(t);
    REQUIRE(rev.ok());
    CHECK_FALSE(s.create(t).ok());  // the id is taken
    t.status_message = "first";
    auto next = s.update(t, rev.value());
    REQUIRE(next.ok());
    REQUIRE(next.value());
    t.status_message = "stale";
    auto stale = s.update(t, rev.value());  // someone else wrote in between
    REQUIRE(stale.ok());
    CHECK_FALSE(stale.value());
    auto got = s.get(t.id);
    REQUIRE(got.ok());
    REQUIRE(got.value());
    CHECK(got.value()->task.status_message == "first");
    CHECK(got.value()->revision == *next.value());
  }
  auto reopened = open_sqlite_store(path, 1 << 20);
  REQUIRE(reopened.ok());
  auto all = reopened.value()->all();
  REQUIRE(all.ok());
  REQUIRE(all.value().size() == 1);
  CHECK(all.value()[0].task.id == t.id);
  REQUIRE(reopened.value()->erase(t.id).ok());
  auto gone = reopened.value()->get(t.id);
  REQUIRE(gone.ok());
  CHECK_FALSE(gone.value());
  CHECK_FALSE(open_sqlite_store("/nonexistent/dir/catalog.db", 1 << 20).ok());
}
