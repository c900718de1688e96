// TaskStore in SQLite: table tasks(id, revision, record) in the node's catalog file, on a
// connection of its own (WAL lets it work beside the catalog's).
#include "tasks/store.hpp"

#include <sqlite3.h>

#include <mutex>

namespace mcpd::tasks {

namespace {

struct Close {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct Finalize {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using Stmt = std::unique_ptr<sqlite3_stmt, Finalize>;

class SqliteTaskStore final : public TaskStore {
 public:
  SqliteTaskStore(sqlite3* db, std::size_t max_bytes) : db_(db), max_bytes_(max_bytes) {}

  Result<std::optional<Versioned>> get(const std::string& id) override {
    std::lock_guard lock(mu_);
    auto st = prepare("SELECT revision, record FROM tasks WHERE id = ?1");
    if (!st.ok()) return st.error();
    sqlite3_bind_text(st->get(), 1, id.c_str(), static_cast<int>(id.size()), SQLITE_TRANSIENT);
    int rc = sqlite3_step(st->get());
    if (rc == SQLITE_DONE) return std::optional<Versioned>{};
    if (rc != SQLITE_ROW) return failed("reading task " + id);
    return row(st->get());
  }

  Result<std::uint64_t> create(const Task& task) override {
    std::lock_guard lock(mu_);
    auto st = prepare("INSERT INTO tasks(id, revision, record) VALUES(?1, 1, ?2)");
    if (!st.ok()) return st.error();
    const std::string record = to_stored(task).dump();
    sqlite3_bind_text(st->get(), 1, task.id.c_str(), static_cast<int>(task.id.size()), SQLITE_TRANSIENT);
    sqlite3_bind_text(st->get(), 2, record.c_str(), static_cast<int>(record.size()), SQLITE_TRANSIENT);
    if (sqlite3_step(st->get()) != SQLITE_DONE) return failed("storing task " + task.id);
    return std::uint64_t{1};
  }

  Result<std::optional<std::uint64_t>> update(const Task& task, std::uint64_t revision) override {
    std::lock_guard lock(mu_);
    auto st = prepare("UPDATE tasks SET revision = revision + 1, record = ?2 WHERE id = ?1 AND revision = ?3");
    if (!st.ok()) return st.error();
    const std::string record = to_stored(task).dump();
    sqlite3_bind_text(st->get(), 1, task.id.c_str(), static_cast<int>(task.id.size()), SQLITE_TRANSIENT);
    sqlite3_bind_text(st->get(), 2, record.c_str(), static_cast<int>(record.size()), SQLITE_TRANSIENT);
    sqlite3_bind_int64(st->get(), 3, static_cast<sqlite3_int64>(revision));
    if (sqlite3_step(st->get()) != SQLITE_DONE) return failed("updating task " + task.id);
    if (sqlite3_changes(db_.get()) == 0) return std::optional<std::uint64_t>{};
    return std::optional<std::uint64_t>{revision + 1};
  }

  Status erase(const std::string& id) override {
    std::lock_guard lock(mu_);
    auto st = prepare("DELETE FROM tasks WHERE id = ?1");
    if (!st.ok()) return st.error();
    sqlite3_bind_text(st->get(), 1, id.c_str(), static_cast<int>(id.size()), SQLITE_TRANSIENT);
    if (sqlite3_step(st->get()) != SQLITE_DONE) return failed("deleting task " + id);
    return {};
  }

  Result<std::vector<Versioned>> all() override {
    std::lock_guard lock(mu_);
    auto st = prepare("SELECT revision, record FROM tasks ORDER BY id");
    if (!st.ok()) return st.error();
    std::vector<Versioned> out;
    for (;;) {
      int rc = sqlite3_step(st->get());
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) return failed("listing tasks");
      auto v = row(st->get());
      if (v.ok() && v.value()) out.push_back(std::move(*v.value()));
    }
    return out;
  }

  std::size_t max_record_bytes() const override { return max_bytes_; }
  std::string kind() const override { return "sqlite"; }

  Status init() {
    std::lock_guard lock(mu_);
    sqlite3_busy_timeout(db_.get(), 5000);
    for (const char* sql : {"PRAGMA journal_mode = WAL", "PRAGMA synchronous = NORMAL",
                            "CREATE TABLE IF NOT EXISTS tasks (id TEXT PRIMARY KEY, revision INTEGER NOT NULL, "
                            "record TEXT NOT NULL)"}) {
      if (sqlite3_exec(db_.get(), sql, nullptr, nullptr, nullptr) != SQLITE_OK) return failed("preparing the tasks table");
    }
    return {};
  }

 private:
  Result<Stmt> prepare(const char* sql) {
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(db_.get(), sql, -1, &raw, nullptr) != SQLITE_OK) return failed("preparing a statement");
    return Stmt(raw);
  }
  Error failed(const std::string& what) const {
    return make_error(Errc::internal, "tasks (SQLite): " + what + ": " + sqlite3_errmsg(db_.get()));
  }
  static Result<std::optional<Versioned>> row(sqlite3_stmt* st) {
    const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(st, 1));
    auto t = from_stored(text ? std::string_view(text, static_cast<std::size_t>(sqlite3_column_bytes(st, 1))) : "");
    if (!t.ok()) return t.error();
    return std::optional<Versioned>{Versioned{std::move(t).value(), static_cast<std::uint64_t>(sqlite3_column_int64(st, 0))}};
  }

  std::mutex mu_;
  std::unique_ptr<sqlite3, Close> db_;
  std::size_t max_bytes_;
};

}  // namespace

Result<std::unique_ptr<TaskStore>> open_sqlite_store(const std::string& path, std::size_t max_record_bytes) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  auto store = std::make_unique<SqliteTaskStore>(raw, max_record_bytes);  // owns `raw` even on failure
  if (rc != SQLITE_OK)
    return make_error(Errc::internal, "tasks: cannot open " + path + ": " + (raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
  if (auto st = store->init(); !st.ok()) return st.error();
  return std::unique_ptr<TaskStore>(std::move(store));
}

}  // namespace mcpd::tasks
