// Prepares the proto-schemas files for valijson: checks that they keep to the keywords valijson
// reads as 2020-12 means them, and makes each payload schema self-contained.
// Internal to mcpd_schema; knows nothing of valijson.
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <string>

namespace mcpd::schema::detail {

// Schema files by file name ("defs.schema.json").
using SchemaFiles = std::map<std::string, nlohmann::json, std::less<>>;

// Throws std::runtime_error naming the place if `schema` (the file `file`) uses a keyword
// outside the subset whose meaning is the same in draft 7 and 2020-12 (proto-schemas/README.md).
// valijson ignores keywords it does not know, so without this check a schema could say more
// than the daemon enforces.
void check_keywords(const std::string& file, const nlohmann::json& schema);

// The schema of `root_file` with every file it refers to (transitively) copied under
// "$defs/<file name>" and every "$ref" rewritten to a local pointer:
// "defs.schema.json#/$defs/errorCode" becomes "#/$defs/defs.schema.json/$defs/errorCode".
// valijson can fetch other documents, but it keys its cache by the JSON pointer alone, so equal
// pointers in two files would collide. Throws std::runtime_error on a reference to a file not
// in `files` or to a plain-name fragment ($anchor).
nlohmann::json bundle(const std::string& root_file, const SchemaFiles& files);

}  // namespace mcpd::schema::detail
