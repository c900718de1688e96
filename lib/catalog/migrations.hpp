// The catalog's schema history, private to store.cpp. PRAGMA user_version holds the number of
// steps applied; opening a database applies the steps after it, all in one transaction.
//
// Append only: a step that has shipped is never edited (databases in the field already ran it),
// so a change to the schema is a new step at the end. tests/unit/catalog/store_test.cpp keeps
// a copy of version 1 to check that an old file still opens.
#pragma once

#include <array>
#include <string_view>

namespace mcpd::catalog::detail {

struct Migration {
  int version;  // 1-based; step N brings user_version from N-1 to N
  std::string_view description;
  std::string_view sql;
};

inline constexpr std::array<Migration, 2> kMigrations = {{
    {1, "servers and tombstones",
     R"sql(
CREATE TABLE schema_migrations (
  version     INTEGER PRIMARY KEY,
  description TEXT NOT NULL,
  applied_at  TEXT NOT NULL
);
-- One row per name: a live record (deleted = 0, record = the JSON of to_json) or a tombstone
-- (deleted = 1, record NULL) kept so a late, older event for that name can be refused.
CREATE TABLE servers (
  name       TEXT PRIMARY KEY,
  revision   INTEGER NOT NULL CHECK (revision >= 0),
  deleted    INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
  deleted_at TEXT,
  record     TEXT,
  CHECK ((deleted = 0) = (record IS NOT NULL))
) WITHOUT ROWID;
)sql"},
    // The Lamport clock gets a row of its own: derived from MAX(revision) it would go back in
    // time if tombstones were ever purged, and a reused revision could lose a change.
    {2, "persisted max_revision",
     R"sql(
CREATE TABLE catalog_meta (
  key   TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO catalog_meta (key, value) SELECT 'max_revision', COALESCE(MAX(revision), 0) FROM servers;
)sql"},
}};

}  // namespace mcpd::catalog::detail
