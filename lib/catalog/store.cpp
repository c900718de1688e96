#include "catalog/store.hpp"

#include <limits>

#include "catalog/migrations.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <mutex>
#include <stdexcept>

namespace mcpd::catalog {
namespace {

using Json = nlohmann::json;

// Inside this file SQLite failures travel as exceptions, from the statement that failed to the
// public method, which turns them into an Error (or a logged default). Nothing throws out of Store.
struct SqliteError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

[[noreturn]] void fail(sqlite3* db, std::string_view what) {
  throw SqliteError(std::string(what) + ": " + sqlite3_errmsg(db));
}

void exec(sqlite3* db, std::string_view sql) {
  char* message = nullptr;
  if (sqlite3_exec(db, std::string(sql).c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
    std::string m = message ? message : sqlite3_errmsg(db);
    sqlite3_free(message);
    throw SqliteError(m);
  }
}

// One prepared statement, finalized when it goes out of scope.
class Statement {
 public:
  Statement(sqlite3* db, std::string_view sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &stmt_, nullptr) != SQLITE_OK)
      fail(db, "preparing a statement");
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int index, std::int64_t v) {
    check(sqlite3_bind_int64(stmt_, index, v));
    return *this;
  }
  Statement& bind(int index, std::string_view v) {
    check(sqlite3_bind_text(stmt_, index, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
    return *this;
  }
  // True when a row is ready to read, false when the statement is done.
  bool step() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    fail(db_, "running a statement");
  }
  void run() {
    while (step()) {
    }
  }
  std::int64_t integer(int col) const { return sqlite3_column_int64(stmt_, col); }
  std::string text(int col) const {
    auto p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col))) : std::string();
  }

 private:
  void check(int rc) {
    if (rc != SQLITE_OK) fail(db_, "binding a parameter");
  }
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

// BEGIN IMMEDIATE takes the write lock up front, so the max_revision read inside the
// transaction cannot be overtaken by another process sharing the file. Rolls back unless
// committed.
class Transaction {
 public:
  explicit Transaction(sqlite3* db) : db_(db) { exec(db_, "BEGIN IMMEDIATE"); }
  ~Transaction() {
    if (!done_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit() {
    exec(db_, "COMMIT");
    done_ = true;
  }

 private:
  sqlite3* db_;
  bool done_ = false;
};

struct Row {
  std::int64_t revision = 0;
  bool deleted = false;
  std::string deleted_at;
  std::string record;  // empty on tombstones
};

std::string now() { return format_timestamp(std::chrono::system_clock::now()); }

// The canonical text of a record: nlohmann's default object keeps keys sorted, so equal
// records dump to equal strings on every node.
std::string canonical(const ServerConfig& c) { return to_json(c).dump(); }

// A stored record back as a ServerConfig; a row that no longer parses (a corrupted file, or
// rules tightened since it was written) is reported and skipped rather than failing the catalog.
std::optional<ServerConfig> decode(std::string_view name, const std::string& text) {
  Json j = Json::parse(text, nullptr, false);
  if (j.is_discarded()) {
    spdlog::error("[catalog] the stored record of '{}' is not JSON; ignoring it", name);
    return std::nullopt;
  }
  auto c = parse_server_config(j);
  if (!c.ok()) {
    spdlog::error("[catalog] the stored record of '{}' is no longer valid ({}); ignoring it", name, c.error().message);
    return std::nullopt;
  }
  return std::move(c).value();
}

// A stored record in canonical form, to compare with an incoming one: the stored text may
// predate a change in to_json.
std::string stored_canonical(std::string_view name, const std::string& text) {
  auto stored = decode(name, text);
  return stored ? canonical(*stored) : text;
}

Error internal(std::string_view what, const std::exception& e) {
  return make_error(Errc::internal, "catalog: " + std::string(what) + ": " + e.what());
}

}  // namespace

std::string_view to_string(Applied a) {
  switch (a) {
    case Applied::applied: return "applied";
    case Applied::stale: return "stale";
    case Applied::unchanged: return "unchanged";
  }
  return "unchanged";
}

struct Store::Impl {
  struct Close {
    void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
  };
  std::unique_ptr<sqlite3, Close> db;
  std::string path;
  int schema_version = 0;
  mutable std::mutex mutex;

  sqlite3* handle() const { return db.get(); }

  std::optional<Row> row(const std::string& name) const {
    Statement s(handle(), "SELECT revision, deleted, deleted_at, record FROM servers WHERE name = ?");
    s.bind(1, name);
    if (!s.step()) return std::nullopt;
    return Row{s.integer(0), s.integer(1) != 0, s.text(2), s.text(3)};
  }

  std::int64_t read_max() const {
    Statement s(handle(), "SELECT value FROM catalog_meta WHERE key = 'max_revision'");
    return s.step() ? s.integer(0) : 0;
  }

  void raise_max(std::int64_t revision) {
    Statement(handle(), "UPDATE catalog_meta SET value = MAX(value, ?) WHERE key = 'max_revision'").bind(1, revision).run();
  }

  void write_live(const std::string& name, std::int64_t revision, const std::string& record) {
    Statement(handle(),
              "INSERT INTO servers (name, revision, deleted, deleted_at, record) VALUES (?, ?, 0, NULL, ?) "
              "ON CONFLICT (name) DO UPDATE SET revision = excluded.revision, deleted = 0, deleted_at = NULL, "
              "record = excluded.record")
        .bind(1, name)
        .bind(2, revision)
        .bind(3, record)
        .run();
  }

  void write_tombstone(const std::string& name, std::int64_t revision) {
    Statement(handle(),
              "INSERT INTO servers (name, revision, deleted, deleted_at, record) VALUES (?, ?, 1, ?, NULL) "
              "ON CONFLICT (name) DO UPDATE SET revision = excluded.revision, deleted = 1, "
              "deleted_at = excluded.deleted_at, record = NULL")
        .bind(1, name)
        .bind(2, revision)
        .bind(3, now())
        .run();
  }

  void migrate() {
    Transaction tx(handle());
    Statement v(handle(), "PRAGMA user_version");
    int current = v.step() ? static_cast<int>(v.integer(0)) : 0;
    int latest = detail::kMigrations.back().version;
    if (current > latest)
      throw SqliteError("its schema version is " + std::to_string(current) + ", newer than this mcpd knows (" +
                        std::to_string(latest) + "); run a newer mcpd or restore a backup");
    for (const auto& m : detail::kMigrations) {
      if (m.version <= current) continue;
      try {
        exec(handle(), m.sql);
      } catch (const SqliteError& e) {
        throw SqliteError("migration " + std::to_string(m.version) + " (" + std::string(m.description) + ") failed: " + e.what());
      }
      Statement(handle(), "INSERT INTO schema_migrations (version, description, applied_at) VALUES (?, ?, ?)")
          .bind(1, m.version)
          .bind(2, m.description)
          .bind(3, now())
          .run();
    }
    if (current == 0)
      spdlog::debug("[catalog] {}: created at schema version {}", path, latest);
    else if (current < latest)
      spdlog::info("[catalog] {}: migrated the schema from version {} to {}", path, current, latest);
    // PRAGMA takes no parameters; the value is our own integer.
    exec(handle(), "PRAGMA user_version = " + std::to_string(latest));
    tx.commit();
    schema_version = latest;
  }
};

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::~Store() = default;

Result<std::unique_ptr<Store>> Store::open(const std::string& path) {
  auto failed = [&](const std::string& why) {
    return make_error(Errc::unavailable, "cannot open the catalog '" + path + "': " + why);
  };
  if (path.empty()) return failed("no path given");
  if (path != ":memory:") {
    auto parent = std::filesystem::path(path).parent_path();
    std::error_code ec;
    if (!parent.empty() && !std::filesystem::is_directory(parent, ec)) {
      std::filesystem::create_directories(parent, ec);
      if (ec) return failed("cannot create its directory '" + parent.string() + "': " + ec.message());
    }
    if (std::filesystem::is_directory(path, ec)) return failed("it is a directory");
    // Only mcpd's user reads the catalog (SQLite gives its -wal and -shm files the same mode).
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0) {
      struct stat st {};
      if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 077) != 0) {
        spdlog::warn("[catalog] {} was readable by others (mode {:o}); setting it to 0600", path, st.st_mode & 0777);
        ::fchmod(fd, 0600);
      }
      ::close(fd);
    }
    for (const char* suffix : {"-wal", "-shm"}) {
      const std::string side = path + suffix;
      struct stat st {};
      if (::stat(side.c_str(), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 077) != 0) ::chmod(side.c_str(), 0600);
    }
  }

  auto impl = std::make_unique<Impl>();
  impl->path = path;
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  impl->db.reset(raw);  // closed on every path out, even when the open failed
  if (rc != SQLITE_OK) return failed(raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc));
  try {
    sqlite3_busy_timeout(raw, 5000);  // another process (mcpctl, a backup) may hold the lock briefly
    sqlite3_extended_result_codes(raw, 1);
    // The first statement that reads the file: a file that is not a database fails here.
    exec(raw, "PRAGMA journal_mode = WAL");  // ":memory:" stays "memory", which is fine
    exec(raw, "PRAGMA synchronous = NORMAL");  // durable across crashes of mcpd in WAL mode
    exec(raw, "PRAGMA foreign_keys = ON");
    impl->migrate();
  } catch (const SqliteError& e) {
    return failed(e.what());
  }
  return std::unique_ptr<Store>(new Store(std::move(impl)));
}

namespace {
// Never reached through the bus (events are bounded, see node/catalog_sync.hpp), but a local
// change must not overflow whatever the file holds.
Error exhausted() {
  return make_error(Errc::internal, "catalog: the revision counter is at its maximum; the catalog file was tampered with");
}
}  // namespace

const std::string& Store::path() const { return impl_->path; }

Result<ServerConfig> Store::put(ServerConfig config) {
  config.revision = 0;
  config.created_at.clear();
  config.updated_at.clear();
  if (auto e = validate(config); !e.ok()) return e.error();
  std::lock_guard lock(impl_->mutex);
  try {
    Transaction tx(impl_->handle());
    auto current = impl_->row(config.name);
    std::string stamp = now();
    const std::int64_t max = impl_->read_max();
    if (max >= std::numeric_limits<std::int64_t>::max()) return exhausted();
    config.revision = max + 1;
    config.updated_at = stamp;
    config.created_at = stamp;
    if (current && !current->deleted) {
      Json old = Json::parse(current->record, nullptr, false);
      if (auto it = old.find("createdAt"); !old.is_discarded() && it != old.end() && it->is_string())
        config.created_at = it->get<std::string>();
    }
    impl_->write_live(config.name, config.revision, canonical(config));
    impl_->raise_max(config.revision);
    tx.commit();
    return config;
  } catch (const std::exception& e) {
    return internal("storing '" + config.name + "'", e);
  }
}

Result<std::optional<std::int64_t>> Store::remove(const std::string& name) {
  std::lock_guard lock(impl_->mutex);
  try {
    Transaction tx(impl_->handle());
    auto current = impl_->row(name);
    if (!current || current->deleted) return std::optional<std::int64_t>();
    const std::int64_t max = impl_->read_max();
    if (max >= std::numeric_limits<std::int64_t>::max()) return exhausted();
    std::int64_t revision = max + 1;
    impl_->write_tombstone(name, revision);
    impl_->raise_max(revision);
    tx.commit();
    return std::optional<std::int64_t>(revision);
  } catch (const std::exception& e) {
    return internal("deleting '" + name + "'", e);
  }
}

Result<Applied> Store::apply_remote_put(const ServerConfig& config) {
  if (auto e = validate(config); !e.ok()) return e.error();
  std::lock_guard lock(impl_->mutex);
  try {
    std::string incoming = canonical(config);
    Transaction tx(impl_->handle());
    auto current = impl_->row(config.name);
    Applied result = Applied::applied;
    if (current && config.revision < current->revision) {
      result = Applied::stale;
    } else if (current && config.revision == current->revision) {
      if (current->deleted) {
        result = Applied::stale;  // a delete wins a tie, as in apply_remote_delete
      } else {
        const std::string mine = stored_canonical(config.name, current->record);
        result = incoming == mine ? Applied::unchanged : incoming > mine ? Applied::applied : Applied::stale;
      }
    }
    if (result == Applied::applied) impl_->write_live(config.name, config.revision, incoming);
    impl_->raise_max(config.revision);
    tx.commit();
    return result;
  } catch (const std::exception& e) {
    return internal("applying a remote put of '" + config.name + "'", e);
  }
}

Result<Applied> Store::replace(const ServerConfig& config) {
  if (auto e = validate(config); !e.ok()) return e.error();
  std::lock_guard lock(impl_->mutex);
  try {
    std::string incoming = canonical(config);
    Transaction tx(impl_->handle());
    auto current = impl_->row(config.name);
    Applied result = Applied::applied;
    if (current && !current->deleted && current->revision == config.revision) {
      if (stored_canonical(config.name, current->record) == incoming) result = Applied::unchanged;
    }
    if (result == Applied::applied) impl_->write_live(config.name, config.revision, incoming);
    impl_->raise_max(config.revision);
    tx.commit();
    return result;
  } catch (const std::exception& e) {
    return internal("replacing '" + config.name + "'", e);
  }
}

Result<Applied> Store::replace_delete(const std::string& name, std::int64_t revision) {
  if (auto e = check_server_name(name); !e.ok()) return e.error();
  std::lock_guard lock(impl_->mutex);
  try {
    Transaction tx(impl_->handle());
    auto current = impl_->row(name);
    Applied result = current && !current->deleted ? Applied::applied : Applied::unchanged;
    if (!current || !current->deleted || current->revision != revision) impl_->write_tombstone(name, revision);
    impl_->raise_max(revision);
    tx.commit();
    return result;
  } catch (const std::exception& e) {
    return internal("replacing '" + name + "' with a tombstone", e);
  }
}

Result<Applied> Store::apply_remote_delete(const std::string& name, std::optional<std::int64_t> revision) {
  if (auto e = check_server_name(name); !e.ok()) return e.error();
  if (revision && *revision < 0)
    return make_error(Errc::invalid_request, "revision: must be 0 or more, got " + std::to_string(*revision));
  std::lock_guard lock(impl_->mutex);
  try {
    Transaction tx(impl_->handle());
    auto current = impl_->row(name);
    Applied result = Applied::unchanged;
    if (!revision) {
      // No revision to judge by: the publisher meant "now", so delete what is live and keep
      // its revision, letting any newer put still win.
      if (current && !current->deleted) {
        impl_->write_tombstone(name, current->revision);
        result = Applied::applied;
      }
    } else if (!current || (current->deleted && *revision > current->revision)) {
      impl_->write_tombstone(name, *revision);  // remembered, to refuse older puts arriving later
    } else if (*revision < current->revision) {
      result = Applied::stale;
    } else if (!current->deleted) {
      impl_->write_tombstone(name, *revision);
      result = Applied::applied;
    }
    if (revision) impl_->raise_max(*revision);
    tx.commit();
    return result;
  } catch (const std::exception& e) {
    return internal("applying a remote delete of '" + name + "'", e);
  }
}

namespace {
Error read_error(const std::string& what, const std::exception& e) {
  return make_error(Errc::internal, "catalog: " + what + ": " + e.what());
}
}  // namespace

Result<std::optional<ServerConfig>> Store::get(const std::string& name) const {
  std::lock_guard lock(impl_->mutex);
  try {
    auto current = impl_->row(name);
    if (!current || current->deleted) return std::optional<ServerConfig>();
    auto config = decode(name, current->record);
    if (!config) return make_error(Errc::internal, "catalog: the stored record of '" + name + "' is unreadable");
    return config;
  } catch (const std::exception& e) {
    return read_error("reading '" + name + "'", e);
  }
}

Result<std::optional<Tombstone>> Store::tombstone(const std::string& name) const {
  std::lock_guard lock(impl_->mutex);
  try {
    auto current = impl_->row(name);
    if (!current || !current->deleted) return std::optional<Tombstone>();
    return std::optional<Tombstone>(Tombstone{name, current->revision, current->deleted_at});
  } catch (const std::exception& e) {
    return read_error("reading the tombstone of '" + name + "'", e);
  }
}

Result<std::vector<ServerConfig>> Store::list() const {
  std::vector<ServerConfig> out;
  std::lock_guard lock(impl_->mutex);
  try {
    Statement s(impl_->handle(), "SELECT name, record FROM servers WHERE deleted = 0 ORDER BY name");
    while (s.step())
      if (auto c = decode(s.text(0), s.text(1))) out.push_back(std::move(*c));  // an unreadable one is logged
  } catch (const std::exception& e) {
    return read_error("listing servers", e);
  }
  return out;
}

Result<std::int64_t> Store::max_revision() const {
  std::lock_guard lock(impl_->mutex);
  try {
    return impl_->read_max();
  } catch (const std::exception& e) {
    return read_error("reading the highest revision", e);
  }
}

Result<std::size_t> Store::size() const {
  std::lock_guard lock(impl_->mutex);
  try {
    Statement s(impl_->handle(), "SELECT COUNT(*) FROM servers WHERE deleted = 0");
    return s.step() ? static_cast<std::size_t>(s.integer(0)) : std::size_t{0};
  } catch (const std::exception& e) {
    return read_error("counting servers", e);
  }
}

int Store::schema_version() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->schema_version;
}

}  // namespace mcpd::catalog
