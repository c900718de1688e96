// The files proto-schemas/*.schema.json, compiled in by embed_schemas.cmake at build time.
// Internal to mcpd_schema: the public view is schema::schema_text().
#pragma once

#include <cstddef>
#include <string_view>

namespace mcpd::schema::detail {

struct EmbeddedFile {
  std::string_view name;  // file name, e.g. "tool-request.schema.json"
  std::string_view text;  // its bytes
};

extern const EmbeddedFile kEmbeddedFiles[];
extern const std::size_t kEmbeddedFileCount;

}  // namespace mcpd::schema::detail
