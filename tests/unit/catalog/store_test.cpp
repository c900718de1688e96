// The SQLite catalog: revisions and timestamps, reopening and schema migrations, tombstones,
// convergence of out-of-order and tied remote events, concurrency and size.
#include "catalog/store.hpp"

#include "support/test_support.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <set>
#include <thread>

using namespace mcpd;
using namespace mcpd::catalog;
using mcpd::test::TempDir;
using Json = nlohmann::json;

namespace {

ServerConfig config(const std::string& name, const std::string& command = "npx") {
  ServerConfig c;
  c.name = name;
  c.command = command;
  return c;
}

// A record as another node would publish it: its own revision and timestamps.
ServerConfig remote(const std::string& name, std::int64_t revision, const std::string& command = "npx") {
  ServerConfig c = config(name, command);
  c.revision = revision;
  c.created_at = "2026-01-01T00:00:00.000Z";
  c.updated_at = "2026-01-01T00:00:00.000Z";
  return c;
}

std::unique_ptr<Store> open_store(const std::string& path = ":memory:") {
  auto r = Store::open(path);
  if (!r.ok()) FAIL(r.error().message);
  return std::move(r).value();
}

// Raw SQL on a catalog file, for building old or damaged databases the store must cope with.
void sql(const std::filesystem::path& path, const std::string& text) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  char* err = nullptr;
  int rc = sqlite3_exec(db, text.c_str(), nullptr, nullptr, &err);
  std::string message = err ? err : "";
  sqlite3_free(err);
  sqlite3_close(db);
  INFO(message);
  REQUIRE(rc == SQLITE_OK);
}

std::int64_t sql_int(const std::filesystem::path& path, const std::string& query) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, query.c_str(), -1, &st, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(st) == SQLITE_ROW);
  std::int64_t v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return v;
}

std::string state_of(const Store& s, const std::string& name) {
  auto c = s.get(name);
  if (!c.ok()) FAIL("reading '" << name << "': " << c.error().message);
  return c.value() ? to_json(*c.value()).dump() : "deleted";
}

}  // namespace

TEST_CASE("put assigns increasing revisions and timestamps and keeps createdAt on update") {
  auto store = open_store();
  CHECK(store->max_revision().value() == 0);
  auto a = store->put(config("alpha"));
  REQUIRE(a.ok());
  CHECK(a->revision == 1);
  CHECK(a->created_at == a->updated_at);
  CHECK(a->created_at.size() == std::string("2026-11-22T01:02:03.456Z").size());
  CHECK(a->created_at.back() == 'Z');

  auto b = store->put(config("beta"));
  REQUIRE(b.ok());
  CHECK(b->revision == 2);

  ServerConfig changed = config("alpha", "node");
  changed.revision = 999;  // ignored: local changes take the store's clock
  changed.created_at = "1999-01-01T00:00:00Z";
  auto a2 = store->put(changed);
  REQUIRE(a2.ok());
  CHECK(a2->revision == 3);
  CHECK(a2->created_at == a->created_at);
  CHECK(a2->updated_at >= a->updated_at);  // same format, so text order is time order
  CHECK(store->max_revision().value() == 3);
  CHECK(store->size().value() == 2);

  auto got = store->get("alpha");
  REQUIRE(got.ok());
  REQUIRE(got.value().has_value());
  CHECK(*got.value() == a2.value());
  CHECK_FALSE(store->get("gamma").value().has_value());
}

TEST_CASE("put refuses an invalid config with the validation message") {
  auto store = open_store();
  ServerConfig c = config("bad.name");
  auto r = store->put(c);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::invalid_request);
  CHECK(r.error().message.starts_with("name 'bad.name'"));
  CHECK(store->max_revision().value() == 0);
}

TEST_CASE("a reopened catalog keeps its records and clock and migrations run once") {
  TempDir dir;
  auto path = dir.path() / "nested" / "dir" / "catalog.db";  // parent directories are created
  {
    auto store = open_store(path.string());
    CHECK(store->schema_version() == 2);
    REQUIRE(store->put(config("one")).ok());
    REQUIRE(store->put(config("two")).ok());
    REQUIRE(store->remove("two").ok());
  }
  for (int i = 0; i < 2; ++i) {
    auto store = open_store(path.string());
    CHECK(store->schema_version() == 2);
    CHECK(store->size().value() == 1);
    CHECK(store->get("one").value().has_value());
    CHECK(store->tombstone("two").value().has_value());
    CHECK(store->max_revision().value() == 3);
  }
  CHECK(sql_int(path, "SELECT COUNT(*) FROM schema_migrations") == 2);
  CHECK(sql_int(path, "PRAGMA user_version") == 2);
  CHECK(sql_int(path, "SELECT COUNT(*) FROM pragma_journal_mode WHERE journal_mode = 'wal'") == 1);
}

TEST_CASE("the catalog file and its WAL are readable by mcpd's user only") {
  TempDir dir;
  auto mode = [](const std::filesystem::path& p) {
    return std::filesystem::status(p).permissions() & std::filesystem::perms::all;
  };
  const auto owner_rw = std::filesystem::perms::owner_read | std::filesystem::perms::owner_write;
  auto path = dir.path() / "catalog.db";
  {
    auto store = open_store(path.string());
    REQUIRE(store->put(config("one")).ok());
    CHECK(mode(path) == owner_rw);
    CHECK(mode(path.string() + "-wal") == owner_rw);
  }
  // One made readable by others (by hand, or by an older mcpd) is tightened when opened.
  std::filesystem::permissions(path, std::filesystem::perms::group_read | std::filesystem::perms::others_read,
                               std::filesystem::perm_options::add);
  auto store = open_store(path.string());
  CHECK(mode(path) == owner_rw);
  CHECK(store->get("one").value().has_value());
}

TEST_CASE("a catalog created at schema version 1 is migrated with its clock seeded from its rows") {
  TempDir dir;
  auto path = dir.path() / "v1.db";
  // Version 1 exactly as it shipped (a frozen copy: migrations.hpp may move on, old files do not).
  sql(path, R"sql(
CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL);
CREATE TABLE servers (
  name TEXT PRIMARY KEY, revision INTEGER NOT NULL CHECK (revision >= 0),
  deleted INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)), deleted_at TEXT, record TEXT,
  CHECK ((deleted = 0) = (record IS NOT NULL))
) WITHOUT ROWID;
INSERT INTO schema_migrations VALUES (1, 'servers and tombstones', '2026-01-01T00:00:00.000Z');
INSERT INTO servers VALUES ('old', 3, 0, NULL, '{"name":"old","command":"npx","revision":3}');
INSERT INTO servers VALUES ('gone', 7, 1, '2026-01-02T00:00:00.000Z', NULL);
PRAGMA user_version = 1;
)sql");
  auto store = open_store(path.string());
  CHECK(store->schema_version() == 2);
  CHECK(store->max_revision().value() == 7);
  auto old = store->get("old");
  REQUIRE(old.ok());
  REQUIRE(old.value().has_value());
  CHECK(old.value()->revision == 3);
  auto t = store->tombstone("gone");
  REQUIRE(t.ok());
  REQUIRE(t.value().has_value());
  CHECK(t.value()->revision == 7);
  CHECK(store->put(config("fresh"))->revision == 8);
  CHECK(sql_int(path, "SELECT COUNT(*) FROM schema_migrations") == 2);
}

TEST_CASE("a catalog from a newer mcpd is refused rather than misread") {
  TempDir dir;
  auto path = dir.path() / "future.db";
  sql(path, "PRAGMA user_version = 99;");
  auto r = Store::open(path.string());
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find(path.string()) != std::string::npos);
  CHECK(r.error().message.find("schema version is 99") != std::string::npos);
}

TEST_CASE("open failures name the path and the reason") {
  TempDir dir;
  SECTION("not a database") {
    auto path = dir.path() / "notes.txt";
    std::ofstream(path) << "these are not the pages of a database, just some text long enough to read a header from\n";
    auto r = Store::open(path.string());
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message.starts_with("cannot open the catalog '" + path.string() + "': "));
    CHECK(r.error().message.find("not a database") != std::string::npos);
  }
  SECTION("a directory") {
    auto r = Store::open(dir.path().string());
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message == "cannot open the catalog '" + dir.path().string() + "': it is a directory");
  }
  SECTION("a parent that is a file") {
    auto file = dir.path() / "file";
    std::ofstream(file) << "x";
    auto path = file / "catalog.db";
    auto r = Store::open(path.string());
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message.starts_with("cannot open the catalog '" + path.string() + "': cannot create its directory"));
  }
}

TEST_CASE("remove leaves a tombstone and reports nothing to remove the second time") {
  auto store = open_store();
  REQUIRE(store->put(config("alpha")).ok());
  auto removed = store->remove("alpha");
  REQUIRE(removed.ok());
  REQUIRE(removed.value());
  CHECK(*removed.value() == 2);
  CHECK_FALSE(store->get("alpha").value().has_value());
  CHECK(store->size().value() == 0);
  CHECK(store->list().value().empty());
  auto t = store->tombstone("alpha");
  REQUIRE(t.ok());
  REQUIRE(t.value().has_value());
  CHECK(t.value()->revision == 2);
  CHECK_FALSE(t.value()->deleted_at.empty());

  auto again = store->remove("alpha");
  REQUIRE(again.ok());
  CHECK_FALSE(again.value());
  auto never = store->remove("never-existed");
  REQUIRE(never.ok());
  CHECK_FALSE(never.value());
  CHECK(store->max_revision().value() == 2);

  // Recreated after a delete: a new server, with a new createdAt and a newer revision.
  auto back = store->put(config("alpha"));
  REQUIRE(back.ok());
  CHECK(back->revision == 3);
  CHECK_FALSE(store->tombstone("alpha").value().has_value());
}

TEST_CASE("a late put older than a delete does not bring the server back") {
  auto store = open_store();
  // delete rev 5 arrives before put rev 4 → stays deleted
  CHECK(store->apply_remote_delete("x", 5).value() == Applied::unchanged);  // nothing was live
  CHECK(store->apply_remote_put(remote("x", 4)).value() == Applied::stale);
  CHECK_FALSE(store->get("x").value().has_value());
  CHECK(store->max_revision().value() == 5);
  // put rev 6 after delete rev 5 → live
  CHECK(store->apply_remote_put(remote("x", 6)).value() == Applied::applied);
  REQUIRE(store->get("x").value().has_value());
  CHECK(store->get("x").value()->revision == 6);
  // a late delete rev 5 now is stale
  CHECK(store->apply_remote_delete("x", 5).value() == Applied::stale);
  CHECK(store->get("x").value().has_value());
  CHECK(store->max_revision().value() == 6);
}

TEST_CASE("remote puts apply only when newer and duplicates are unchanged") {
  auto store = open_store();
  CHECK(store->apply_remote_put(remote("x", 3)).value() == Applied::applied);
  CHECK(store->apply_remote_put(remote("x", 3)).value() == Applied::unchanged);
  CHECK(store->apply_remote_put(remote("x", 2, "old")).value() == Applied::stale);
  CHECK(store->get("x").value()->command == "npx");
  CHECK(store->apply_remote_put(remote("x", 9, "new")).value() == Applied::applied);
  CHECK(store->get("x").value()->command == "new");
  CHECK(store->get("x").value()->created_at == "2026-01-01T00:00:00.000Z");  // kept as published
  // The clock moved past what was seen, so the next local change is newer than all of it.
  CHECK(store->max_revision().value() == 9);
  CHECK(store->put(config("x"))->revision == 10);

  auto bad = store->apply_remote_put(remote("Bad!", 1));
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().code == Errc::invalid_request);
  auto bad_delete = store->apply_remote_delete("a.b", 1);
  REQUIRE_FALSE(bad_delete.ok());
  CHECK(bad_delete.error().code == Errc::invalid_request);
}

TEST_CASE("a remote delete with a revision tombstones only a record no newer than itself") {
  auto store = open_store();
  REQUIRE(store->apply_remote_put(remote("x", 4)).ok());
  CHECK(store->apply_remote_delete("x", 3).value() == Applied::stale);
  CHECK(store->get("x").value().has_value());
  CHECK(store->apply_remote_delete("x", 4).value() == Applied::applied);  // equal: the delete wins
  CHECK_FALSE(store->get("x").value().has_value());
  CHECK(store->tombstone("x").value()->revision == 4);
  CHECK(store->apply_remote_delete("x", 4).value() == Applied::unchanged);
  CHECK(store->apply_remote_delete("x", 8).value() == Applied::unchanged);
  CHECK(store->tombstone("x").value()->revision == 8);  // raised: puts up to 8 are now refused
  CHECK(store->apply_remote_put(remote("x", 7)).value() == Applied::stale);
  CHECK(store->apply_remote_delete("x", 2).value() == Applied::stale);
}

TEST_CASE("a remote delete without a revision deletes whatever is live") {
  auto store = open_store();
  CHECK(store->apply_remote_delete("x", std::nullopt).value() == Applied::unchanged);
  CHECK_FALSE(store->tombstone("x").value().has_value());
  REQUIRE(store->apply_remote_put(remote("x", 12)).ok());
  CHECK(store->apply_remote_delete("x", std::nullopt).value() == Applied::applied);
  CHECK_FALSE(store->get("x").value().has_value());
  CHECK(store->tombstone("x").value()->revision == 12);
  CHECK(store->apply_remote_put(remote("x", 12)).value() == Applied::stale);  // the same put again
  CHECK(store->apply_remote_put(remote("x", 13)).value() == Applied::applied);
}

TEST_CASE("an equal-revision tie ends the same on every node whatever the arrival order") {
  ServerConfig a = remote("tie", 5, "aaa");
  ServerConfig b = remote("tie", 5, "bbb");
  auto one = open_store();
  auto two = open_store();
  CHECK(one->apply_remote_put(a).ok());
  CHECK(one->apply_remote_put(b).ok());
  CHECK(two->apply_remote_put(b).ok());
  CHECK(two->apply_remote_put(a).ok());
  CHECK(state_of(*one, "tie") == state_of(*two, "tie"));
  std::string winner = std::max(to_json(a).dump(), to_json(b).dump());
  CHECK(state_of(*one, "tie") == winner);

  // Between a put and a delete of the same revision the delete wins, in either order.
  auto three = open_store();
  auto four = open_store();
  CHECK(three->apply_remote_put(remote("pd", 5)).ok());
  CHECK(three->apply_remote_delete("pd", 5).ok());
  CHECK(four->apply_remote_delete("pd", 5).ok());
  CHECK(four->apply_remote_put(remote("pd", 5)).ok());
  CHECK(state_of(*three, "pd") == "deleted");
  CHECK(state_of(*four, "pd") == "deleted");
}

TEST_CASE("every order of a set of events converges to the same state") {
  struct Event {
    bool put;
    std::int64_t revision;
    std::string command;
  };
  std::vector<Event> events = {{true, 1, "a"}, {true, 3, "b"}, {false, 3, ""}, {true, 3, "c"}, {false, 2, ""}, {true, 2, "d"}};
  std::vector<int> order(events.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  std::set<std::string> finals;
  do {
    auto store = open_store();
    for (int i : order) {
      const Event& e = events[static_cast<std::size_t>(i)];
      auto r = e.put ? store->apply_remote_put(remote("s", e.revision, e.command)) : store->apply_remote_delete("s", e.revision);
      REQUIRE(r.ok());
    }
    finals.insert(state_of(*store, "s") + " @" + std::to_string(store->max_revision().value()));
  } while (std::next_permutation(order.begin(), order.end()));
  REQUIRE(finals.size() == 1);
  CHECK(*finals.begin() == "deleted @3");
}

TEST_CASE("8 threads putting concurrently get distinct revisions") {
  TempDir dir;
  auto store = open_store((dir.path() / "catalog.db").string());
  constexpr int kThreads = 8, kPuts = 200;
  std::vector<std::vector<std::int64_t>> revisions(kThreads);
  std::atomic<bool> writing{true};
  std::atomic<int> failures{0};
  // A reader alongside, as the admin API would list while events apply.
  std::thread reader([&] {
    while (writing) {
      auto all = store->list();
      if (!all.ok() || !std::is_sorted(all.value().begin(), all.value().end(),
                                       [](auto& x, auto& y) { return x.name < y.name; }))
        ++failures;
    }
  });
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t)
    writers.emplace_back([&, t] {
      for (int i = 0; i < kPuts; ++i) {
        auto r = store->put(config("t" + std::to_string(t) + "-" + std::to_string(i % 20)));
        if (r.ok())
          revisions[static_cast<std::size_t>(t)].push_back(r->revision);
        else
          ++failures;
      }
    });
  for (auto& w : writers) w.join();
  writing = false;
  reader.join();
  CHECK(failures == 0);
  std::set<std::int64_t> all;
  for (auto& v : revisions) {
    CHECK(std::is_sorted(v.begin(), v.end()));
    all.insert(v.begin(), v.end());
  }
  CHECK(all.size() == kThreads * kPuts);
  CHECK(*all.begin() == 1);
  CHECK(*all.rbegin() == kThreads * kPuts);
  CHECK(store->max_revision().value() == kThreads * kPuts);
  CHECK(store->size().value() == kThreads * 20);
}

TEST_CASE("2000 records list in name order") {
  TempDir dir;
  auto store = open_store((dir.path() / "catalog.db").string());
  constexpr int kCount = 2000;
  for (int i = kCount - 1; i >= 0; --i) {
    char name[16];
    std::snprintf(name, sizeof name, "srv-%05d", i);
    REQUIRE(store->put(config(name)).ok());
  }
  auto listed = store->list();
  REQUIRE(listed.ok());
  const auto& all = listed.value();
  REQUIRE(all.size() == kCount);
  CHECK(store->size().value() == kCount);
  CHECK(all.front().name == "srv-00000");
  CHECK(all.back().name == "srv-01999");
  CHECK(std::is_sorted(all.begin(), all.end(), [](auto& x, auto& y) { return x.name < y.name; }));
  CHECK(std::adjacent_find(all.begin(), all.end(), [](auto& x, auto& y) { return x.name == y.name; }) == all.end());
}

TEST_CASE("a damaged row is skipped and the rest of the catalog still reads") {
  TempDir dir;
  auto path = dir.path() / "catalog.db";
  {
    auto store = open_store(path.string());
    REQUIRE(store->put(config("good")).ok());
    REQUIRE(store->put(config("bad")).ok());
  }
  sql(path, "UPDATE servers SET record = '{not json' WHERE name = 'bad';");
  auto store = open_store(path.string());
  auto all = store->list();
  REQUIRE(all.ok());
  REQUIRE(all.value().size() == 1);
  CHECK(all.value()[0].name == "good");
  // get does not hand out the damaged record: it cannot be read, which is an error (not found
  // would be an ok nullopt).
  auto bad = store->get("bad");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().code == Errc::internal);
  CHECK(bad.error().message.find("'bad'") != std::string::npos);
  // A put repairs it.
  REQUIRE(store->put(config("bad")).ok());
  CHECK(store->list().value().size() == 2);
}

TEST_CASE("a remote revision far ahead moves the clock but local changes keep working") {
  auto store = open_store(":memory:");
  const std::int64_t far = std::int64_t{1} << 53;  // the most an event may carry (node/catalog_sync.hpp)
  REQUIRE(store->apply_remote_put(remote("far", far)).value() == Applied::applied);
  auto put = store->put(config("local"));
  REQUIRE(put.ok());
  CHECK(put.value().revision == far + 1);
  auto removed = store->remove("far");
  REQUIRE(removed.ok());
  CHECK(removed.value() == std::optional<std::int64_t>(far + 2));
  auto again = store->put(config("local", "node"));
  REQUIRE(again.ok());
  CHECK(again.value().revision == far + 3);
}
